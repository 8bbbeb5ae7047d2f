package org.flinkops.zoo;

import java.util.Arrays;
import java.util.Map;

import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Zoo job "rocksdb": keyed state on the RocksDB state backend (state.backend.type: rocksdb, set
 * by the program), with a state size chosen by the arguments, for lifecycle tests and for
 * state-size benchmarks of savepoints, stops and restores.
 *
 * <p>Args (besides the common ones of {@link Zoo}):
 * <ul>
 *   <li>--keys N: number of keys (default 4); the source cycles through them;</li>
 *   <li>--bytes-per-key B: each key holds a B-byte value (default 0) written on its first record
 *       and kept; the keyed state is then about N x (B + ~30) bytes once every key was seen, i.e.
 *       after N records (at --rate 0, unthrottled, within seconds for a million keys);</li>
 *   <li>--incremental true|false: incremental RocksDB checkpoints (default false);</li>
 *   <li>--rate R: records/s per source subtask, 0 = as fast as possible.</li>
 * </ul>
 * A payload found with the wrong size or content (state corrupted or lost) fails the job.
 * Output: ZOO COUNT job=rocksdb ... bytes=&lt;payload size of the key&gt;
 */
public class RocksDbJob {

    public static void main(String[] args) throws Exception {
        Map<String, String> a = Zoo.parse(args, new String[][] {{"--bytes-per-key", "0"}, {"--incremental", "false"}});
        String version = Zoo.version();
        Configuration conf = new Configuration();
        conf.setString("state.backend.type", "rocksdb");
        conf.setString("state.backend.incremental", String.valueOf(Boolean.parseBoolean(a.get("--incremental"))));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        if (Zoo.num(a, "--checkpoint-interval") > 0) {
            env.enableCheckpointing(Zoo.num(a, "--checkpoint-interval"));
        }
        env.fromSequence(0, Long.MAX_VALUE)
                .uid("zoo-rocksdb-source")
                .map(new Zoo.Throttle(Zoo.num(a, "--rate"), a.get("--variant")))
                .uid("zoo-rocksdb-throttle")
                .keyBy(new Zoo.Mod(Zoo.num(a, "--keys")))
                .process(new Payload((int) Zoo.num(a, "--bytes-per-key"), Zoo.num(a, "--every"), version, a.get("--tag")))
                .uid(Zoo.uid("zoo-rocksdb-state", version))
                .name("zoo-rocksdb-state");
        env.execute(a.get("--name").isEmpty() ? "zoo-rocksdb" : a.get("--name"));
    }

    public static class Payload extends KeyedProcessFunction<Long, Long, String> {
        private static final long serialVersionUID = 1L;
        private final int bytes;
        private final long every;
        private final String version;
        private final String tag;
        private transient ValueState<Long> count;
        private transient ValueState<byte[]> payload;

        public Payload(int bytes, long every, String version, String tag) {
            this.bytes = bytes;
            this.every = every;
            this.version = version;
            this.tag = tag;
        }

        @Override
        public void processElement(Long value, Context ctx, Collector<String> out) throws Exception {
            if (count == null) {
                count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
                payload = getRuntimeContext().getState(
                        new ValueStateDescriptor<>("payload", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO));
            }
            long c = (count.value() == null ? 0L : count.value()) + 1;
            count.update(c);
            byte[] p = payload.value();
            byte fill = (byte) (ctx.getCurrentKey() % 127);
            if (p == null) {
                if (bytes > 0) {
                    p = new byte[bytes];
                    Arrays.fill(p, fill);
                    payload.update(p);
                }
            } else if (p.length != bytes && bytes > 0 || p.length > 0 && p[p.length - 1] != fill) {
                throw new IllegalStateException("flinkops zoo: payload of key " + ctx.getCurrentKey()
                        + " has " + p.length + " bytes, expected " + bytes);
            }
            Zoo.print("rocksdb", ctx.getCurrentKey(), c, every, version, tag,
                    "bytes=" + (p == null ? 0 : p.length));
        }
    }
}
