package org.flinkops.zoo;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.java.functions.KeySelector;

/**
 * Shared plumbing of the zoo jobs (not a job itself): argument parsing, the version read from the
 * JAR resource flinkops-test-version.txt (v1, v2, incompatible), a throttle and the output line.
 *
 * <p>Every zoo job prints its per-key state to System.out (the TaskManager .out file) as
 *
 * <pre>
 * ZOO COUNT job=&lt;job&gt; key=&lt;k&gt; count=&lt;c&gt; version=&lt;v&gt; tag=&lt;tag&gt; [extra]
 * </pre>
 *
 * <p>whenever a per-key counter kept in Flink state reaches a multiple of --every. A test proves
 * that state was carried over when the first count of the new version is the next multiple after
 * the last count of the old one (never reset to --every, never a value printed twice).
 */
public final class Zoo {

    /** Arguments every DataStream zoo job understands, with their defaults. */
    static final String[][] COMMON = {
        {"--name", ""}, {"--tag", ""}, {"--rate", "200"}, {"--keys", "4"}, {"--every", "20"},
        {"--checkpoint-interval", "1000"}, {"--variant", "normal"},
    };

    private Zoo() {
    }

    /** "--flag value" pairs; an unknown flag or a flag without value fails main() (HTTP 500 at submit). */
    static Map<String, String> parse(String[] args, String[]... defaults) {
        Map<String, String> out = new HashMap<>();
        Set<String> known = new HashSet<>();
        for (String[][] table : Arrays.asList(COMMON, defaults)) {
            for (String[] kv : table) {
                known.add(kv[0]);
                out.put(kv[0], kv[1]);
            }
        }
        for (int i = 0; i < args.length; i += 2) {
            if (!known.contains(args[i])) {
                throw new IllegalArgumentException("flinkops zoo: unknown argument " + args[i]);
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("flinkops zoo: " + args[i] + " needs a value");
            }
            out.put(args[i], args[i + 1]);
        }
        String variant = out.get("--variant");
        if (!variant.equals("normal") && !variant.equals("fail-on-start")) {
            throw new IllegalArgumentException("flinkops zoo: unknown variant " + variant);
        }
        return out;
    }

    static long num(Map<String, String> a, String flag) {
        return Long.parseLong(a.get(flag));
    }

    static String version() throws Exception {
        try (InputStream in = Zoo.class.getResourceAsStream("/flinkops-test-version.txt")) {
            if (in == null) {
                return "unknown";
            }
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            String line = r.readLine();
            return line == null ? "unknown" : line.trim();
        }
    }

    /** The uid of a stateful operator: the "incompatible" JAR renames it, so v1 state cannot be restored. */
    static String uid(String base, String version) {
        return version.equals("incompatible") ? base + "-incompatible" : base;
    }

    static void print(String job, Object key, long count, long every, String version, String tag,
                      String extra) {
        if (count % every == 0) {
            System.out.println("ZOO COUNT job=" + job + " key=" + key + " count=" + count
                    + " version=" + version + " tag=" + tag + (extra.isEmpty() ? "" : " " + extra));
        }
    }

    /** Keeps a stream at about rate records/s per subtask (0: unthrottled); fail-on-start throws. */
    public static class Throttle implements MapFunction<Long, Long> {
        private static final long serialVersionUID = 1L;
        private final double rate;
        private final boolean fail;
        private transient long startNanos;
        private transient long seen;

        public Throttle(double rate, String variant) {
            this.rate = rate;
            this.fail = variant.equals("fail-on-start");
        }

        @Override
        public Long map(Long value) throws Exception {
            if (fail) {
                throw new RuntimeException("flinkops zoo: fail-on-start variant fails on purpose");
            }
            if (rate > 0) {
                if (seen == 0) {
                    startNanos = System.nanoTime();
                }
                seen++;
                long wait = startNanos + (long) (seen * 1_000_000_000d / rate) - System.nanoTime();
                if (wait > 0) {
                    Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                }
            }
            return value;
        }
    }

    /** key = value mod keys. */
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
}
