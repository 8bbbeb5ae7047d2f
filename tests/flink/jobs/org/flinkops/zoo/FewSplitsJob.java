package org.flinkops.zoo;

import java.util.Collection;
import java.util.Map;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.api.connector.source.lib.NumberSequenceSource;
import org.apache.flink.api.connector.source.lib.util.IteratorSourceEnumerator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Zoo job "few-splits": a FLIP-27 source with fewer splits (--splits, default 1) than the job's
 * parallelism. Source subtasks that get no split FINISH while the job keeps RUNNING and
 * checkpointing (Flink 1.15+), like a Kafka source with more parallelism than partitions.
 *
 * <p>Args: the common ones of {@link Zoo} plus --splits N. Output: ZOO COUNT job=few-splits ...
 */
public class FewSplitsJob {

    public static void main(String[] args) throws Exception {
        Map<String, String> a = Zoo.parse(args, new String[][] {{"--splits", "1"}});
        String version = Zoo.version();
        String tag = a.get("--tag");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        if (Zoo.num(a, "--checkpoint-interval") > 0) {
            env.enableCheckpointing(Zoo.num(a, "--checkpoint-interval"));
        }
        env.fromSource(new FewSplits(0, Long.MAX_VALUE, (int) Zoo.num(a, "--splits")),
                        WatermarkStrategy.noWatermarks(), "zoo-few-splits-source")
                .uid("zoo-few-splits-source")
                .map(new Zoo.Throttle(Zoo.num(a, "--rate"), a.get("--variant")))
                .uid("zoo-few-splits-throttle")
                .keyBy(new Zoo.Mod(Zoo.num(a, "--keys")))
                .process(new Counter(Zoo.num(a, "--every"), version, tag))
                .uid(Zoo.uid("zoo-few-splits-counter", version))
                .name("zoo-few-splits-counter");
        env.execute(a.get("--name").isEmpty() ? "zoo-few-splits" : a.get("--name"));
    }

    /** The number sequence cut into a fixed number of splits, whatever the parallelism. */
    public static class FewSplits extends NumberSequenceSource {
        private static final long serialVersionUID = 1L;
        private final int splits;

        public FewSplits(long from, long to, int splits) {
            super(from, to);
            this.splits = splits;
        }

        @Override
        public SplitEnumerator<NumberSequenceSplit, Collection<NumberSequenceSplit>> createEnumerator(
                SplitEnumeratorContext<NumberSequenceSplit> context) {
            return new IteratorSourceEnumerator<>(context, splitNumberRange(getFrom(), getTo(), splits));
        }
    }

    public static class Counter extends KeyedProcessFunction<Long, Long, String> {
        private static final long serialVersionUID = 1L;
        private final long every;
        private final String version;
        private final String tag;
        private transient ValueState<Long> count;

        public Counter(long every, String version, String tag) {
            this.every = every;
            this.version = version;
            this.tag = tag;
        }

        @Override
        public void processElement(Long value, Context ctx, Collector<String> out) throws Exception {
            if (count == null) {
                count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
            }
            long c = (count.value() == null ? 0L : count.value()) + 1;
            count.update(c);
            Zoo.print("few-splits", ctx.getCurrentKey(), c, every, version, tag, "");
        }
    }
}
