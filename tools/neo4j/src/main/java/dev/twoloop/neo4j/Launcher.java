package dev.twoloop.neo4j;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.io.ByteUnit;

/**
 * Runs a Neo4j Community server for development and tests: one Bolt connector
 * on loopback, its own home directory, capped page cache, no HTTP. The JVM heap
 * is capped by the caller (-Xmx). Stops cleanly on SIGTERM, and on its own
 * when the process named by --watch-pid goes away, so a crashed test session
 * never leaves a database running.
 */
public final class Launcher {
    private Launcher() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = parse(args);
        Path home = Path.of(require(opts, "home")).toAbsolutePath();
        int port = Integer.parseInt(require(opts, "port"));
        long pageCacheMb = Long.parseLong(opts.getOrDefault("pagecache-mb", "512"));
        Files.createDirectories(home);

        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                .setConfig(HttpConnector.enabled, false)
                .setConfig(HttpsConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, false)
                .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(pageCacheMb))
                .build();

        Thread stopper = new Thread(() -> {
            System.out.println("twoloop-neo4j: shutting down");
            dbms.shutdown();
        });
        Runtime.getRuntime().addShutdownHook(stopper);
        System.out.println("twoloop-neo4j: READY bolt://127.0.0.1:" + port);
        System.out.flush();

        String watch = opts.get("watch-pid");
        if (watch != null) {
            long watched = Long.parseLong(watch);
            while (true) {
                Optional<ProcessHandle> handle = ProcessHandle.of(watched);
                if (handle.isEmpty() || !handle.get().isAlive()) {
                    System.out.println("twoloop-neo4j: watched pid " + watched + " is gone");
                    System.exit(0);
                }
                Thread.sleep(1000);
            }
        }
        Thread.currentThread().join();
    }

    private static String require(Map<String, String> opts, String name) throws IOException {
        String value = opts.get(name);
        if (value == null) {
            throw new IllegalArgumentException("missing --" + name);
        }
        return value;
    }

    private static Map<String, String> parse(String[] args) {
        Map<String, String> opts = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException("expected --name value, got " + args[i]);
            }
            opts.put(args[i].substring(2), args[i + 1]);
        }
        return opts;
    }
}
