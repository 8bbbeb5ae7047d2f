package org.flinkops.zoo;

import java.util.ArrayList;
import java.util.List;

import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;

/**
 * Zoo job "sql": a small SQL runner (like the Flink Kubernetes Operator's example) that runs the
 * SQL statements it is given through the Table API; the last one is typically an INSERT, which
 * submits the job.
 *
 * <p>Args:
 * <ul>
 *   <li>--name N: the job name (pipeline.name);</li>
 *   <li>--checkpoint-interval MS: default 1000, 0 = off;</li>
 *   <li>--sql S: one statement; repeat for more, run in order. "${version}" in a statement is
 *       replaced by the JAR's version resource (v1, v2, incompatible).</li>
 * </ul>
 * Which statement changes keep the state is decided by Flink: operator ids of a SQL job derive
 * from the shape of the plan (a changed literal keeps them, an extra aggregation does not).
 */
public class SqlRunner {

    public static void main(String[] args) throws Exception {
        String name = "zoo-sql";
        long interval = 1000;
        List<String> statements = new ArrayList<>();
        for (int i = 0; i < args.length; i += 2) {
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("flinkops zoo: " + args[i] + " needs a value");
            }
            switch (args[i]) {
                case "--name": name = args[i + 1]; break;
                case "--checkpoint-interval": interval = Long.parseLong(args[i + 1]); break;
                case "--sql": statements.add(args[i + 1]); break;
                default: throw new IllegalArgumentException("flinkops zoo: unknown argument " + args[i]);
            }
        }
        if (statements.isEmpty()) {
            throw new IllegalArgumentException("flinkops zoo: no --sql statement");
        }
        String version = Zoo.version();
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        if (interval > 0) {
            env.enableCheckpointing(interval);
        }
        StreamTableEnvironment tEnv = StreamTableEnvironment.create(env);
        tEnv.getConfig().set("pipeline.name", name);
        for (String statement : statements) {
            tEnv.executeSql(statement.replace("${version}", version));
        }
    }
}
