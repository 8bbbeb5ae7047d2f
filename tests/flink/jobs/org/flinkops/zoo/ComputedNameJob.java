package org.flinkops.zoo;

import java.util.Map;

import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Zoo job "computed-name": the name given to execute() is computed from the arguments,
 * "&lt;--app&gt;-&lt;--region&gt;" (e.g. "orders-eu"), the way many programs name their job from
 * their configuration. --name is not accepted: the deployment must use the computed name.
 *
 * <p>Args: the common ones of {@link Zoo} except --name, plus --app and --region.
 * Output: ZOO COUNT job=computed-name ... name=&lt;computed name&gt;
 */
public class ComputedNameJob {

    public static void main(String[] args) throws Exception {
        Map<String, String> a = Zoo.parse(args, new String[][] {{"--app", "zoo"}, {"--region", "local"}});
        if (!a.get("--name").isEmpty()) {
            throw new IllegalArgumentException("flinkops zoo: computed-name takes --app and --region, not --name");
        }
        String name = a.get("--app") + "-" + a.get("--region");
        String version = Zoo.version();
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        if (Zoo.num(a, "--checkpoint-interval") > 0) {
            env.enableCheckpointing(Zoo.num(a, "--checkpoint-interval"));
        }
        env.fromSequence(0, Long.MAX_VALUE)
                .uid("zoo-computed-name-source")
                .map(new Zoo.Throttle(Zoo.num(a, "--rate"), a.get("--variant")))
                .uid("zoo-computed-name-throttle")
                .keyBy(new Zoo.Mod(Zoo.num(a, "--keys")))
                .process(new Counter(Zoo.num(a, "--every"), version, a.get("--tag"), name))
                .uid(Zoo.uid("zoo-computed-name-counter", version))
                .name("zoo-computed-name-counter");
        env.execute(name);
    }

    public static class Counter extends KeyedProcessFunction<Long, Long, String> {
        private static final long serialVersionUID = 1L;
        private final long every;
        private final String version;
        private final String tag;
        private final String name;
        private transient ValueState<Long> count;

        public Counter(long every, String version, String tag, String name) {
            this.every = every;
            this.version = version;
            this.tag = tag;
            this.name = name;
        }

        @Override
        public void processElement(Long value, Context ctx, Collector<String> out) throws Exception {
            if (count == null) {
                count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
            }
            long c = (count.value() == null ? 0L : count.value()) + 1;
            count.update(c);
            Zoo.print("computed-name", ctx.getCurrentKey(), c, every, version, tag, "name=" + name);
        }
    }
}
