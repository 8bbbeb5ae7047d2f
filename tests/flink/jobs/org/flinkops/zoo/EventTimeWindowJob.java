package org.flinkops.zoo;

import java.time.Duration;
import java.util.Map;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Zoo job "event-time-window": tumbling event-time windows of --window-ms per key, built on
 * keyed state and event-time timers (the window API's size type changed between 1.18 and 2.x).
 * Event time is the time a record is read; watermarks allow 200 ms out of orderness. Each
 * fired window bumps a per-key counter of windows (kept in state, like the pending timers).
 *
 * <p>Args: the common ones of {@link Zoo} plus --window-ms (default 500). --every counts
 * windows here (default 1). Output: ZOO COUNT job=event-time-window key=k count=&lt;windows
 * fired&gt; ... window_end=&lt;ms&gt; events=&lt;events in it&gt;
 */
public class EventTimeWindowJob {

    public static void main(String[] args) throws Exception {
        Map<String, String> a = Zoo.parse(args, new String[][] {{"--window-ms", "500"}, {"--every", "1"}});
        String version = Zoo.version();
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        if (Zoo.num(a, "--checkpoint-interval") > 0) {
            env.enableCheckpointing(Zoo.num(a, "--checkpoint-interval"));
        }
        env.fromSequence(0, Long.MAX_VALUE)
                .uid("zoo-window-source")
                .map(new Zoo.Throttle(Zoo.num(a, "--rate"), a.get("--variant")))
                .uid("zoo-window-throttle")
                .assignTimestampsAndWatermarks(WatermarkStrategy.<Long>forBoundedOutOfOrderness(Duration.ofMillis(200))
                        .withTimestampAssigner((value, previous) -> System.currentTimeMillis()))
                .uid("zoo-window-watermarks")
                .keyBy(new Zoo.Mod(Zoo.num(a, "--keys")))
                .process(new Window(Zoo.num(a, "--window-ms"), Zoo.num(a, "--every"), version, a.get("--tag")))
                .uid(Zoo.uid("zoo-window-timers", version))
                .name("zoo-window-timers");
        env.execute(a.get("--name").isEmpty() ? "zoo-event-time-window" : a.get("--name"));
    }

    public static class Window extends KeyedProcessFunction<Long, Long, String> {
        private static final long serialVersionUID = 1L;
        private final long size;
        private final long every;
        private final String version;
        private final String tag;
        private transient ValueState<Long> events;
        private transient ValueState<Long> windows;

        public Window(long size, long every, String version, String tag) {
            this.size = size;
            this.every = every;
            this.version = version;
            this.tag = tag;
        }

        private void init() {
            if (events == null) {
                events = getRuntimeContext().getState(new ValueStateDescriptor<>("events", Types.LONG));
                windows = getRuntimeContext().getState(new ValueStateDescriptor<>("windows", Types.LONG));
            }
        }

        @Override
        public void processElement(Long value, Context ctx, Collector<String> out) throws Exception {
            init();
            long end = ctx.timestamp() - (ctx.timestamp() % size) + size - 1;
            // One timer per window end (registering it again is a no-op).
            ctx.timerService().registerEventTimeTimer(end);
            events.update((events.value() == null ? 0L : events.value()) + 1);
        }

        @Override
        public void onTimer(long timestamp, OnTimerContext ctx, Collector<String> out) throws Exception {
            init();
            long w = (windows.value() == null ? 0L : windows.value()) + 1;
            windows.update(w);
            long n = events.value() == null ? 0L : events.value();
            events.clear();
            Zoo.print("event-time-window", ctx.getCurrentKey(), w, every, version, tag,
                    "window_end=" + timestamp + " events=" + n);
        }
    }
}
