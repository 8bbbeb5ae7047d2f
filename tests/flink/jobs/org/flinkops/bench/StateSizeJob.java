package org.flinkops.bench;

import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * State-size benchmark job (bench/state_size.py): keyed state of a chosen size, then a steady,
 * throttled stream whose heartbeats show every pause and every record processed twice.
 *
 * <p>The first --keys records are the fill: unthrottled, each writes --bytes-per-key
 * pseudo-random (incompressible) bytes into its key's ValueState, so the state is about
 * keys x bytes once offset keys-1 was processed. From then on the source runs at --rate
 * records/s (a real-time schedule kept in state, see Throttle), every record reads its key's value (state stays hot), and every
 * --heartbeat-every-th offset prints, like the sample job, to System.out:
 *
 * <pre>
 * FLINKOPS HB offset=&lt;n&gt; ts=&lt;epoch ms&gt; version=&lt;v&gt; tag=&lt;tag&gt;
 * FLINKOPS FILLED keys=&lt;k&gt; bytes=&lt;b&gt; ts=&lt;epoch ms&gt; tag=&lt;tag&gt;
 * </pre>
 *
 * <p>The state backend is the cluster's (the benchmark configures RocksDB there).
 */
public class StateSizeJob {

    public static void main(String[] args) throws Exception {
        String name = "flinkops-bench-state";
        String tag = "";
        double rate = 200.0;
        long keys = 1000;
        int bytes = 1024;
        long heartbeatEvery = 2;
        long checkpointInterval = 5000;
        for (int i = 0; i + 1 < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--name": name = v; break;
                case "--tag": tag = v; break;
                case "--rate": rate = Double.parseDouble(v); break;
                case "--keys": keys = Long.parseLong(v); break;
                case "--bytes-per-key": bytes = Integer.parseInt(v); break;
                case "--heartbeat-every": heartbeatEvery = Long.parseLong(v); break;
                case "--checkpoint-interval": checkpointInterval = Long.parseLong(v); break;
                default: throw new IllegalArgumentException("flinkops bench: unknown argument " + args[i]);
            }
        }
        if (args.length % 2 != 0 || keys < 1 || bytes < 0 || heartbeatEvery < 1) {
            throw new IllegalArgumentException("flinkops bench: bad arguments");
        }
        String version = readVersion();
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        if (checkpointInterval > 0) {
            env.enableCheckpointing(checkpointInterval);
        }
        env.fromSequence(0, Long.MAX_VALUE).uid("bench-source").name("bench-source")
                .map(new Throttle(rate, keys)).uid("bench-throttle").name("bench-throttle")
                .keyBy(new Mod(keys))
                .process(new Payload(bytes, keys, heartbeatEvery, version, tag))
                .uid("bench-state").name("bench-state");
        env.execute(name);
    }

    static String readVersion() throws java.io.IOException {
        try (java.io.InputStream in = StateSizeJob.class.getResourceAsStream("/flinkops-test-version.txt")) {
            if (in == null) {
                return "unknown";
            }
            String text = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).trim();
            return text.isEmpty() ? "unknown" : text;
        }
    }

    /**
     * Unthrottled below offset fillUntil, then a real-time stream: offset n is due at
     * anchor + (n - first) / rate, where anchor and first are kept in operator state. A job
     * restored from older state (a checkpoint, a blue/green savepoint) is behind schedule and
     * catches up at full speed, as a consumer of a log (Kafka) would.
     */
    public static class Throttle extends RichMapFunction<Long, Long> implements CheckpointedFunction {
        private static final long serialVersionUID = 1L;
        private final double rate;
        private final long fillUntil;
        private transient long anchorMillis = -1;
        private transient long first = -1;
        private transient volatile long last = -1;
        private transient boolean gaugeRegistered;
        private transient ListState<Long> saved;

        public Throttle(double rate, long fillUntil) {
            this.rate = rate;
            this.fillUntil = fillUntil;
        }

        /**
         * FLIP-33's pendingRecords, as a log consumer (Kafka) reports it: the records due by now
         * that were not processed yet. Registered on first use (open() differs across versions).
         */
        private void registerPendingRecords() {
            gaugeRegistered = true;
            getRuntimeContext().getMetricGroup().gauge("pendingRecords", (Gauge<Long>) () -> {
                long anchor = anchorMillis;
                long processed = last;
                if (anchor < 0 || processed < 0 || rate <= 0) {
                    return 0L;
                }
                long due = first + (long) ((System.currentTimeMillis() - anchor) * rate / 1000d);
                return Math.max(0L, due - processed);
            });
        }

        @Override
        public Long map(Long value) throws Exception {
            if (!gaugeRegistered) {
                registerPendingRecords();
            }
            last = value;
            if (rate > 0 && value >= fillUntil) {
                if (anchorMillis < 0) {
                    anchorMillis = System.currentTimeMillis();
                    first = value;
                }
                long wait = anchorMillis + (long) ((value - first) * 1000d / rate) - System.currentTimeMillis();
                if (wait > 0) {
                    Thread.sleep(wait);
                }
            }
            return value;
        }

        @Override
        public void snapshotState(FunctionSnapshotContext context) throws Exception {
            saved.clear();
            if (anchorMillis >= 0) {
                saved.add(anchorMillis);
                saved.add(first);
            }
        }

        @Override
        public void initializeState(FunctionInitializationContext context) throws Exception {
            // union state: after a rescale every subtask gets the one schedule
            // Transient fields come back as 0 from deserialization, not as their initializers:
            // without this the schedule began at the epoch and the job never slept.
            anchorMillis = -1;
            first = -1;
            last = -1;
            saved = context.getOperatorStateStore().getUnionListState(
                    new ListStateDescriptor<>("schedule", Types.LONG));
            java.util.Iterator<Long> it = saved.get().iterator();
            if (it.hasNext()) {
                anchorMillis = it.next();
                first = it.hasNext() ? it.next() : 0;
            }
        }
    }

    public static class Mod implements KeySelector<Long, Long> {
        private static final long serialVersionUID = 1L;
        private final long keys;

        public Mod(long keys) {
            this.keys = keys;
        }

        @Override
        public Long getKey(Long value) {
            return value % keys;
        }
    }

    public static class Payload extends KeyedProcessFunction<Long, Long, String> {
        private static final long serialVersionUID = 1L;
        private final int bytes;
        private final long keys;
        private final long heartbeatEvery;
        private final String version;
        private final String tag;
        private transient ValueState<byte[]> payload;

        public Payload(int bytes, long keys, long heartbeatEvery, String version, String tag) {
            this.bytes = bytes;
            this.keys = keys;
            this.heartbeatEvery = heartbeatEvery;
            this.version = version;
            this.tag = tag;
        }

        @Override
        public void processElement(Long offset, Context ctx, Collector<String> out) throws Exception {
            if (payload == null) {
                payload = getRuntimeContext().getState(new ValueStateDescriptor<>(
                        "payload", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO));
            }
            byte[] p = payload.value();
            if (p == null) {
                // xorshift from the key: incompressible, so RocksDB cannot shrink the state
                p = new byte[bytes];
                long x = ctx.getCurrentKey() * 0x9E3779B97F4A7C15L + 1;
                for (int i = 0; i < bytes; i++) {
                    x ^= x << 13;
                    x ^= x >>> 7;
                    x ^= x << 17;
                    p[i] = (byte) x;
                }
                payload.update(p);
            } else if (p.length != bytes) {
                throw new IllegalStateException("flinkops bench: key " + ctx.getCurrentKey() + " holds "
                        + p.length + " bytes, expected " + bytes);
            }
            if (offset == keys - 1) {
                System.out.println("FLINKOPS FILLED keys=" + keys + " bytes=" + bytes + " ts="
                        + System.currentTimeMillis() + " tag=" + tag);
            }
            if (offset >= keys && offset % heartbeatEvery == 0) {
                System.out.println("FLINKOPS HB offset=" + offset + " ts=" + System.currentTimeMillis()
                        + " version=" + version + " tag=" + tag);
            }
        }
    }
}
