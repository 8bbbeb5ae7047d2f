package org.flinkops.zoo;

import java.util.Map;

import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.state.BroadcastState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ReadOnlyBroadcastState;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.datastream.BroadcastStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.co.KeyedBroadcastProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Zoo job "broadcast": a keyed stream with broadcast state. A bounded rules source (one rule,
 * "&lt;--rule&gt;") is broadcast to every subtask and FINISHES; the rule lives on in broadcast
 * state (operator state, redistributed on rescale) and is printed with every count.
 *
 * <p>Args: the common ones of {@link Zoo} plus --rule (default "rule-1").
 * Output: ZOO COUNT job=broadcast ... rule=&lt;rule or none&gt;
 */
public class BroadcastStateJob {

    static final MapStateDescriptor<String, String> RULES =
            new MapStateDescriptor<>("rules", Types.STRING, Types.STRING);

    public static void main(String[] args) throws Exception {
        Map<String, String> a = Zoo.parse(args, new String[][] {{"--rule", "rule-1"}});
        String version = Zoo.version();
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        if (Zoo.num(a, "--checkpoint-interval") > 0) {
            env.enableCheckpointing(Zoo.num(a, "--checkpoint-interval"));
        }
        BroadcastStream<String> rules = env.fromSequence(0, 0)
                .uid("zoo-broadcast-rules")
                .map(new Rule(a.get("--rule")))
                .uid("zoo-broadcast-rule-map")
                .broadcast(RULES);
        env.fromSequence(0, Long.MAX_VALUE)
                .uid("zoo-broadcast-events")
                .map(new Zoo.Throttle(Zoo.num(a, "--rate"), a.get("--variant")))
                .uid("zoo-broadcast-throttle")
                .keyBy(new Zoo.Mod(Zoo.num(a, "--keys")))
                .connect(rules)
                .process(new Apply(Zoo.num(a, "--every"), version, a.get("--tag")))
                .uid(Zoo.uid("zoo-broadcast-apply", version))
                .name("zoo-broadcast-apply");
        env.execute(a.get("--name").isEmpty() ? "zoo-broadcast" : a.get("--name"));
    }

    public static class Rule implements MapFunction<Long, String> {
        private static final long serialVersionUID = 1L;
        private final String rule;

        public Rule(String rule) {
            this.rule = rule;
        }

        @Override
        public String map(Long ignored) {
            return rule;
        }
    }

    public static class Apply extends KeyedBroadcastProcessFunction<Long, Long, String, String> {
        private static final long serialVersionUID = 1L;
        private final long every;
        private final String version;
        private final String tag;
        private transient ValueState<Long> count;

        public Apply(long every, String version, String tag) {
            this.every = every;
            this.version = version;
            this.tag = tag;
        }

        @Override
        public void processElement(Long value, ReadOnlyContext ctx, Collector<String> out) throws Exception {
            if (count == null) {
                count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
            }
            long c = (count.value() == null ? 0L : count.value()) + 1;
            count.update(c);
            ReadOnlyBroadcastState<String, String> rules = ctx.getBroadcastState(RULES);
            String rule = rules.get("rule");
            Zoo.print("broadcast", ctx.getCurrentKey(), c, every, version, tag,
                    "rule=" + (rule == null ? "none" : rule));
        }

        @Override
        public void processBroadcastElement(String rule, Context ctx, Collector<String> out) throws Exception {
            BroadcastState<String, String> rules = ctx.getBroadcastState(RULES);
            rules.put("rule", rule);
        }
    }
}
