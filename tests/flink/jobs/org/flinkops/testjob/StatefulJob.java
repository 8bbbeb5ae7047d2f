package org.flinkops.testjob;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * flinkops test job: one source that compiles and runs unchanged on Flink 1.18 .. 2.3.
 *
 * <p>Sequence source (FLIP-27, checkpointed position) -> throttle map -> keyed counter that
 * prints to System.out (the TaskManager .out file):
 *
 * <pre>
 * FLINKOPS HB offset=&lt;n&gt; ts=&lt;epoch ms&gt; version=&lt;v&gt; tag=&lt;tag&gt;
 * FLINKOPS COUNT key=&lt;k&gt; count=&lt;c&gt; offset=&lt;n&gt; version=&lt;v&gt; tag=&lt;tag&gt;
 * </pre>
 *
 * <p>The version (v1, v2, incompatible) comes from the JAR resource flinkops-test-version.txt.
 * "incompatible" gives the keyed counter another uid, so a v1 savepoint cannot be restored
 * without allowNonRestoredState. No open() overrides and no ParameterTool: both changed in 2.x.
 */
public class StatefulJob {

    static final String UID_SOURCE = "flinkops-source";
    static final String UID_THROTTLE = "flinkops-throttle";
    static final String UID_COUNTER = "flinkops-keyed-counter";
    static final String UID_COUNTER_INCOMPATIBLE = "flinkops-keyed-counter-incompatible";

    public static void main(String[] args) throws Exception {
        String name = "flinkops-stateful";
        double rate = 200.0;
        int keys = 4;
        long heartbeatEvery = 10;
        String tag = "";
        String variant = "normal";
        long checkpointInterval = 1000;

        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String v = (i + 1 < args.length) ? args[i + 1] : null;
            switch (a) {
                case "--name": name = need(a, v); i++; break;
                case "--rate": rate = Double.parseDouble(need(a, v)); i++; break;
                case "--keys": keys = Integer.parseInt(need(a, v)); i++; break;
                case "--heartbeat-every": heartbeatEvery = Long.parseLong(need(a, v)); i++; break;
                case "--tag": tag = need(a, v); i++; break;
                case "--variant": variant = need(a, v); i++; break;
                case "--checkpoint-interval": checkpointInterval = Long.parseLong(need(a, v)); i++; break;
                default:
                    throw new IllegalArgumentException("flinkops test: unknown argument " + a);
            }
        }
        if (!variant.equals("normal") && !variant.equals("fail-on-start") && !variant.equals("throw-in-main")) {
            throw new IllegalArgumentException("flinkops test: unknown variant " + variant);
        }
        if (variant.equals("throw-in-main")) {
            throw new IllegalArgumentException("flinkops test: main failed on purpose");
        }
        if (keys < 1 || heartbeatEvery < 1) {
            throw new IllegalArgumentException("flinkops test: --keys and --heartbeat-every must be >= 1");
        }

        String version = readVersion();
        boolean incompatible = version.equals("incompatible");
        System.out.println("FLINKOPS MAIN name=" + name + " version=" + version + " tag=" + tag);

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        if (checkpointInterval > 0) {
            env.enableCheckpointing(checkpointInterval);
        }

        env.fromSequence(0, Long.MAX_VALUE)
                .uid(UID_SOURCE).name(UID_SOURCE)
                .map(new Throttle(rate, variant.equals("fail-on-start")))
                .uid(UID_THROTTLE).name(UID_THROTTLE)
                .keyBy(new ModKey(keys))
                .process(new Counter(heartbeatEvery, version, tag))
                .uid(incompatible ? UID_COUNTER_INCOMPATIBLE : UID_COUNTER)
                .name(incompatible ? UID_COUNTER_INCOMPATIBLE : UID_COUNTER);

        env.execute(name);
    }

    private static String need(String flag, String value) {
        if (value == null) {
            throw new IllegalArgumentException("flinkops test: " + flag + " needs a value");
        }
        return value;
    }

    static String readVersion() throws Exception {
        try (InputStream in = StatefulJob.class.getResourceAsStream("/flinkops-test-version.txt")) {
            if (in == null) {
                return "unknown";
            }
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            String line = r.readLine();
            return line == null ? "unknown" : line.trim();
        }
    }

    /** Stateless throttle: keeps the stream at ~rate records/s; fail-on-start throws on the first record. */
    public static class Throttle implements MapFunction<Long, Long> {
        private static final long serialVersionUID = 1L;
        private final double rate;
        private final boolean failOnStart;
        private transient long startNanos;
        private transient long seen;

        public Throttle(double rate, boolean failOnStart) {
            this.rate = rate;
            this.failOnStart = failOnStart;
        }

        @Override
        public Long map(Long value) throws Exception {
            if (failOnStart) {
                throw new RuntimeException("flinkops test: fail-on-start variant fails on purpose");
            }
            if (rate > 0) {
                if (seen == 0) {
                    startNanos = System.nanoTime();
                }
                seen++;
                long due = startNanos + (long) (seen * 1_000_000_000d / rate);
                long wait = due - System.nanoTime();
                if (wait > 0) {
                    Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                }
            }
            return value;
        }
    }

    public static class ModKey implements KeySelector<Long, Integer> {
        private static final long serialVersionUID = 1L;
        private final int keys;

        public ModKey(int keys) {
            this.keys = keys;
        }

        @Override
        public Integer getKey(Long value) {
            return (int) (value % keys);
        }
    }

    /** Per-key counter in ValueState, obtained lazily (no open() override). */
    public static class Counter extends KeyedProcessFunction<Integer, Long, String> {
        private static final long serialVersionUID = 1L;
        private final long heartbeatEvery;
        private final String version;
        private final String tag;
        private transient ValueState<Long> count;

        public Counter(long heartbeatEvery, String version, String tag) {
            this.heartbeatEvery = heartbeatEvery;
            this.version = version;
            this.tag = tag;
        }

        @Override
        public void processElement(Long offset, Context ctx, Collector<String> out) throws Exception {
            if (count == null) {
                count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
            }
            Long current = count.value();
            long c = (current == null ? 0L : current) + 1;
            count.update(c);
            if (offset % heartbeatEvery == 0) {
                System.out.println("FLINKOPS HB offset=" + offset + " ts=" + System.currentTimeMillis()
                        + " version=" + version + " tag=" + tag);
            }
            if (c % 50 == 0) {
                System.out.println("FLINKOPS COUNT key=" + ctx.getCurrentKey() + " count=" + c
                        + " offset=" + offset + " version=" + version + " tag=" + tag);
            }
        }
    }
}
