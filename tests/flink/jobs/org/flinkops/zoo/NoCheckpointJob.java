package org.flinkops.zoo;

import java.util.Map;

import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Zoo job "no-checkpoint": keyed state but checkpointing never enabled (whatever
 * --checkpoint-interval says). Savepoints still work, so its state survives upgrades made with
 * stop-with-savepoint; a health gate that waits for a checkpoint can never pass.
 *
 * <p>Args: the common ones of {@link Zoo}. Output: ZOO COUNT job=no-checkpoint ...
 */
public class NoCheckpointJob {

    public static void main(String[] args) throws Exception {
        Map<String, String> a = Zoo.parse(args);
        String version = Zoo.version();
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.fromSequence(0, Long.MAX_VALUE)
                .uid("zoo-no-checkpoint-source")
                .map(new Zoo.Throttle(Zoo.num(a, "--rate"), a.get("--variant")))
                .uid("zoo-no-checkpoint-throttle")
                .keyBy(new Zoo.Mod(Zoo.num(a, "--keys")))
                .process(new Counter(Zoo.num(a, "--every"), version, a.get("--tag")))
                .uid(Zoo.uid("zoo-no-checkpoint-counter", version))
                .name("zoo-no-checkpoint-counter");
        env.execute(a.get("--name").isEmpty() ? "zoo-no-checkpoint" : a.get("--name"));
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
            Zoo.print("no-checkpoint", ctx.getCurrentKey(), c, every, version, tag, "");
        }
    }
}
