package org.flinkops.zoo;

import java.util.Map;

import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Zoo job "side-input": an unbounded stream joined with a bounded side input (one label per
 * key, like a small reference table). The side-input source FINISHES after a few records while
 * the job keeps RUNNING; the labels live on in keyed state, and after a restore (the finished
 * source is not run again) every count line still shows the label.
 *
 * <p>Args: the common ones of {@link Zoo} plus --label (label prefix, default "label").
 * Output: ZOO COUNT job=side-input ... label=&lt;label-k or none&gt;
 */
public class SideInputJoinJob {

    public static void main(String[] args) throws Exception {
        Map<String, String> a = Zoo.parse(args, new String[][] {{"--label", "label"}});
        String version = Zoo.version();
        long keys = Zoo.num(a, "--keys");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        if (Zoo.num(a, "--checkpoint-interval") > 0) {
            env.enableCheckpointing(Zoo.num(a, "--checkpoint-interval"));
        }
        DataStream<Long> events = env.fromSequence(0, Long.MAX_VALUE)
                .uid("zoo-side-input-events")
                .map(new Zoo.Throttle(Zoo.num(a, "--rate"), a.get("--variant")))
                .uid("zoo-side-input-throttle");
        DataStream<String> labels = env.fromSequence(0, keys - 1)
                .uid("zoo-side-input-labels")
                .map(new Label(a.get("--label")))
                .uid("zoo-side-input-label-map");
        events.keyBy(new Zoo.Mod(keys))
                .connect(labels.keyBy(new LabelKey()))
                .process(new Join(Zoo.num(a, "--every"), version, a.get("--tag")))
                .uid(Zoo.uid("zoo-side-input-join", version))
                .name("zoo-side-input-join");
        env.execute(a.get("--name").isEmpty() ? "zoo-side-input" : a.get("--name"));
    }

    /** k -> "k:&lt;prefix&gt;-k". */
    public static class Label implements MapFunction<Long, String> {
        private static final long serialVersionUID = 1L;
        private final String prefix;

        public Label(String prefix) {
            this.prefix = prefix;
        }

        @Override
        public String map(Long k) {
            return k + ":" + prefix + "-" + k;
        }
    }

    public static class LabelKey implements KeySelector<String, Long> {
        private static final long serialVersionUID = 1L;

        @Override
        public Long getKey(String value) {
            return Long.parseLong(value.substring(0, value.indexOf(':')));
        }
    }

    public static class Join extends KeyedCoProcessFunction<Long, Long, String, String> {
        private static final long serialVersionUID = 1L;
        private final long every;
        private final String version;
        private final String tag;
        private transient ValueState<Long> count;
        private transient ValueState<String> label;

        public Join(long every, String version, String tag) {
            this.every = every;
            this.version = version;
            this.tag = tag;
        }

        private void init() {
            if (count == null) {
                count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
                label = getRuntimeContext().getState(new ValueStateDescriptor<>("label", Types.STRING));
            }
        }

        @Override
        public void processElement1(Long value, Context ctx, Collector<String> out) throws Exception {
            init();
            long c = (count.value() == null ? 0L : count.value()) + 1;
            count.update(c);
            String l = label.value();
            Zoo.print("side-input", ctx.getCurrentKey(), c, every, version, tag,
                    "label=" + (l == null ? "none" : l));
        }

        @Override
        public void processElement2(String value, Context ctx, Collector<String> out) throws Exception {
            init();
            label.update(value.substring(value.indexOf(':') + 1));
        }
    }
}
