package org.mmunotifier.simulator;

import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.HdrHistogram.Histogram;
import org.mmunotifier.mm.MmuNotifierEvent;
import org.mmunotifier.simulator.check.Checker;
import org.mmunotifier.simulator.driver.SecondaryMmu;

/**
 * What a run found: counts, latencies, throughput and violations, as a readable table
 * ({@link #print}) and as a tree of maps and lists for JSON ({@link #toJsonTree}).
 */
final class Report {
    private final SimConfig config;
    private final long elapsedNanos;
    private final Stats stats;
    private final long violations;
    private final Map<Checker.Kind, Long> byKind;
    private final List<String> samples;
    private final long accessChecks;
    private final long windowUses;
    private final Map<String, Map<String, Long>> drivers = new LinkedHashMap<>();
    private final int liveAtEnd;

    Report(SimConfig config, long elapsedNanos, Stats stats, Checker checker, List<SecondaryMmu> drivers, int liveAtEnd) {
        this.config = config;
        this.elapsedNanos = elapsedNanos;
        this.stats = stats;
        this.violations = checker.violations();
        this.byKind = checker.byKind();
        this.samples = checker.samples();
        this.accessChecks = checker.accessChecks();
        for (SecondaryMmu d : drivers) {
            Map<String, Long> c = new LinkedHashMap<>(d.counters());
            Checker.DriverCounts v = checker.countsOf(d.name);
            c.put("staleWindowUses", v.window());
            c.put("accessViolations", v.violations());
            this.drivers.put(d.name, c);
        }
        this.windowUses = checker.windowUses();
        this.liveAtEnd = liveAtEnd;
    }

    /** @return the total number of violations */
    long violations() {
        return violations;
    }

    /** @return violations by kind (only nonzero kinds) */
    Map<Checker.Kind, Long> violationsByKind() {
        return byKind;
    }

    /** @return one counter */
    long count(Op op) {
        return stats.get(op);
    }

    /** @return invalidation ranges raised for an event */
    long invalidations(MmuNotifierEvent e) {
        return stats.invalidations[e.ordinal()];
    }

    /** @return a driver's counters by name */
    Map<String, Long> driver(String name) {
        return drivers.get(name);
    }

    /** @return the number of secondary accesses validated */
    long accessChecks() {
        return accessChecks;
    }

    /** @return accesses through a stale translation inside the window 5.4 allows, all drivers */
    long windowUses() {
        return windowUses;
    }

    /** @return primary events per second */
    double primaryEventsPerSecond() {
        return stats.primaryEvents() / seconds();
    }

    /** @return all events (primary plus secondary accesses, attaches, detaches) per second */
    double eventsPerSecond() {
        return stats.allEvents() / seconds();
    }

    private double seconds() {
        return Math.max(elapsedNanos, 1) / 1e9;
    }

    /** @return the process exit code: 0 only with zero violations */
    /** Exit status of a run stopped by Ctrl-C (128 + SIGINT), violations or not. */
    static final int EXIT_INTERRUPTED = 130;

    private boolean interrupted;

    /** Marks the run as stopped early by Ctrl-C. */
    void markInterrupted() {
        interrupted = true;
    }

    /** @return whether the run was stopped early by Ctrl-C */
    boolean interrupted() {
        return interrupted;
    }

    int exitCode() {
        if (interrupted) {
            return EXIT_INTERRUPTED;
        }
        if (violations != 0) {
            return 1;
        }
        return nothingChecked() ? EXIT_NOTHING_CHECKED : 0;
    }

    /** Exit status of a run whose checker was on but validated no secondary access. */
    static final int EXIT_NOTHING_CHECKED = 4;

    /** @return whether the access checker was on and yet validated nothing (a run too short) */
    boolean nothingChecked() {
        return config.check() && accessChecks == 0;
    }

    /**
     * A comparison key for determinism: every count that depends only on the seed (no timing, no
     * latency, and nothing counted by threads other than the single worker).
     */
    Map<String, Object> deterministicCounts() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("operations", operations());
        m.put("invalidations", invalidationsMap());
        m.put("drivers", drivers);
        m.put("violations", violations);
        return m;
    }

    private Map<String, Long> operations() {
        Map<String, Long> m = new LinkedHashMap<>();
        for (Op op : Op.values()) {
            m.put(jsonKey(op.name()), stats.get(op));
        }
        return m;
    }

    private Map<String, Long> invalidationsMap() {
        Map<String, Long> m = new LinkedHashMap<>();
        for (MmuNotifierEvent e : MmuNotifierEvent.values()) {
            m.put(jsonKey(e.name()), stats.invalidations[e.ordinal()]);
        }
        return m;
    }

    /** @return the whole report as maps, lists, strings and numbers, for a JSON writer */
    /** The JSON document's version: bumped when a key changes meaning or goes away. */
    static final int SCHEMA_VERSION = 2;
    /** The tool's version, as {@code --version} prints it. */
    static final String TOOL_VERSION = "0.1.0";

    private final String finishedAt = java.time.Instant.now().toString();

    /** @return the verdict as one word: PASS, FAIL, NOTHING_CHECKED or INTERRUPTED */
    String result() {
        return interrupted ? "INTERRUPTED" : violations != 0 ? "FAIL" : nothingChecked() ? "NOTHING_CHECKED" : "PASS";
    }

    Map<String, Object> toJsonTree() {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("schemaVersion", SCHEMA_VERSION);
        root.put("toolVersion", TOOL_VERSION);
        root.put("finishedAt", finishedAt);
        root.put("result", result());
        Map<String, Object> cfg = new LinkedHashMap<>();
        cfg.put("seed", config.seed());
        cfg.put("threads", config.threads());
        cfg.put("durationMillis", config.durationMillis());
        cfg.put("events", config.events());
        cfg.put("processes", config.processes());
        cfg.put("pages", config.pages());
        cfg.put("frames", config.frames());
        cfg.put("drivers", config.drivers().stream().map(Object::toString).sorted().toList());
        cfg.put("inject", config.inject().toString());
        cfg.put("kernelOrder", config.order().toString());
        cfg.put("unload", config.unload());
        cfg.put("check", config.check());
        cfg.put("maxMapPages", config.maxMapPages());
        cfg.put("maxHandles", config.maxHandles());
        Map<String, Integer> weights = new LinkedHashMap<>();
        for (Op e : Op.events()) {
            weights.put(jsonKey(e.weightKey().substring(Op.WEIGHT_PREFIX.length())), config.weights().get(e));
        }
        cfg.put("weights", weights);
        root.put("config", cfg);
        root.put("elapsedSeconds", seconds());
        Map<String, Object> procs = new LinkedHashMap<>();
        procs.put("spawned", stats.get(Op.SPAWN));
        procs.put("forked", stats.get(Op.FORK));
        procs.put("exited", stats.get(Op.EXIT));
        procs.put("exitedDuringRun", stats.get(Op.EXIT) - liveAtEnd);
        procs.put("liveAtEnd", liveAtEnd);
        root.put("processes", procs);
        root.put("operations", operations());
        root.put("invalidations", invalidationsMap());
        root.put("drivers", drivers);
        Map<String, Object> lat = new LinkedHashMap<>();
        for (LatencyRow row : latencyRows()) {
            Histogram h = row.histogram();
            Map<String, Object> one = new LinkedHashMap<>();
            one.put("label", row.label());
            one.put("count", h.getTotalCount());
            one.put("p50Micros", micros(h, 50));
            one.put("p90Micros", micros(h, 90));
            one.put("p99Micros", micros(h, 99));
            one.put("p999Micros", micros(h, 99.9));
            one.put("maxMicros", maxMicros(h));
            lat.put(row.key(), one);
        }
        root.put("latency", lat);
        Map<String, Object> tp = new LinkedHashMap<>();
        tp.put("primaryEvents", stats.primaryEvents());
        tp.put("primaryEventsPerSecond", primaryEventsPerSecond());
        tp.put("allEvents", stats.allEvents());
        tp.put("allEventsPerSecond", eventsPerSecond());
        root.put("throughput", tp);
        Map<String, Object> tl = new LinkedHashMap<>();
        tl.put("intervalMillis", Timeline.INTERVAL_MILLIS);
        List<Map<String, Object>> points = new java.util.ArrayList<>();
        double[] rates = timeline.primaryEventsPerSecond();
        List<Timeline.Sample> samples = timeline.samples();
        for (int i = 0; i < samples.size(); i++) {
            Timeline.Sample sample = samples.get(i);
            Map<String, Object> one = new LinkedHashMap<>();
            one.put("millis", sample.millis());
            one.put("primaryEvents", sample.primaryEvents());
            one.put("primaryEventsPerSecond", rates[i]);
            one.put("violations", sample.violations());
            points.add(one);
        }
        tl.put("samples", points);
        root.put("timeline", tl);
        Map<String, Object> chk = new LinkedHashMap<>();
        chk.put("accessesValidated", accessChecks);
        chk.put("violations", violations);
        chk.put("staleWindowUses", windowUses);
        Map<String, Long> kinds = new LinkedHashMap<>();
        byKind.forEach((k, v) -> kinds.put(jsonKey(k.name()), v));
        chk.put("byKind", kinds);
        chk.put("samples", samples);
        root.put("checker", chk);
        root.put("verified", verified);
        root.put("reproduce", reproductionCommand());
        root.put("interrupted", interrupted);
        root.put("exitCode", exitCode());
        return root;
    }

    static double micros(Histogram h, double percentile) {
        return h.getTotalCount() == 0 ? 0.0 : h.getValueAtPercentile(percentile) / 1e3;
    }

    static double maxMicros(Histogram h) {
        return h.getTotalCount() == 0 ? 0.0 : h.getMaxValue() / 1e3;
    }

    /**
     * One latency row: its JSON key, its label and its histogram (nanoseconds).
     *
     * @param key the key in the JSON {@code latency} object and the {@code .hgrm} file's name
     * @param label the row's label in the text report and the HTML page
     * @param histogram the recorded latencies, in nanoseconds
     */
    record LatencyRow(String key, String label, Histogram histogram) {
    }

    /**
     * The latency rows, in the report's order: each of {@link Stats.Latency}, with the
     * invalidations by event right after the invalidation row. The text report, the JSON, the
     * HTML page and {@code --hgrm} are all made from this one list.
     */
    List<LatencyRow> latencyRows() {
        List<LatencyRow> rows = new java.util.ArrayList<>();
        for (Stats.Latency l : Stats.Latency.values()) {
            rows.add(new LatencyRow(l.key(), l.label(), stats.latency[l.ordinal()]));
            if (l == Stats.Latency.INVALIDATE) {
                for (MmuNotifierEvent e : MmuNotifierEvent.values()) {
                    rows.add(new LatencyRow(l.key() + camel(e.name()), "  " + e.name(),
                            stats.invalidateByEvent[e.ordinal()]));
                }
            }
        }
        return rows;
    }

    /**
     * @return a constant or option name as a JSON key, in lower camelCase: {@code PAGE_FAULT} as
     *     {@code pageFault}, {@code soft-dirty} as {@code softDirty}
     */
    static String jsonKey(String name) {
        String upper = camel(name.replace('-', '_'));
        return Character.toLowerCase(upper.charAt(0)) + upper.substring(1);
    }

    /** @return PROTECTION_VMA as ProtectionVma */
    private static String camel(String constant) {
        StringBuilder b = new StringBuilder();
        for (String part : constant.toLowerCase(java.util.Locale.ROOT).split("_")) {
            b.append(Character.toUpperCase(part.charAt(0))).append(part.substring(1));
        }
        return b.toString();
    }

    private Timeline timeline = new Timeline();

    /** Sets the samples taken during the run. */
    void setTimeline(Timeline timeline) {
        this.timeline = timeline;
    }

    /** @return the samples taken during the run */
    Timeline timeline() {
        return timeline;
    }

    /** @return the configuration of the run */
    SimConfig config() {
        return config;
    }

    /** @return each driver's counters, by driver name, in the report's order */
    Map<String, Map<String, Long>> drivers() {
        return drivers;
    }

    /** @return the violation messages kept as samples */
    List<String> samples() {
        return samples;
    }

    /** The footnotes under the latency table, in the text report and the HTML page. */
    static final List<String> LATENCY_NOTES = List.of(
            "  (-: nothing measured. Indented: the invalidate row again, by event. get, put: every call the",
            "   drivers made, the same counts as the driver table's. synchronize: one at the accel driver's",
            "   unload (half-way, or in the teardown with --unload false) and one at the end of the run.",
            "   last mmput: the exits during the run; the end-of-run",
            "   teardown's are not timed. last put->freeNotifier: the deferred free, after a grace period)");

    /** Prints the readable table. */
    void print(PrintStream out) {
        out.printf("MMU notifier simulator: seed %d, %,d worker thread%s, %s, checker %s, fault injection: %s, "
                + "kernel order: %s%n", config.seed(), config.threads(), config.threads() == 1 ? "" : "s",
                config.events() > 0 ? String.format("%,d primary events per worker in %.3f s", config.events(), seconds())
                        : String.format("%,.1f s", seconds()),
                config.check() ? "on" : "OFF", config.inject(), config.order());
        out.printf("drivers: %s%n%n", String.join(", ", drivers.keySet()));
        out.printf("Processes       spawned %,d   forked %,d   exited %,d (%,d during the run, %,d in the end-of-run "
                + "teardown: the processes live when the workers stopped)%n%n", stats.get(Op.SPAWN), stats.get(Op.FORK),
                stats.get(Op.EXIT), stats.get(Op.EXIT) - liveAtEnd, liveAtEnd);
        out.println("Operations                                   count");
        for (Op op : Op.values()) {
            out.printf("  %-38s %,14d%n", op.label, stats.get(op));
        }
        out.println();
        out.println("Invalidations by event                       ranges");
        for (MmuNotifierEvent e : MmuNotifierEvent.values()) {
            out.printf("  %-38s %,14d%n", e.name(), stats.invalidations[e.ordinal()]);
        }
        out.println();
        out.printf("%-8s %10s %10s %10s %10s %10s %10s %10s %10s%n", "Driver", "opens", "closes", "gets", "puts",
                "registers", "unregist.", "allocated", "freed");
        long gets = 0;
        long puts = 0;
        for (Map.Entry<String, Map<String, Long>> e : drivers.entrySet()) {
            Map<String, Long> c = e.getValue();
            out.printf("%-8s %,10d %,10d %,10d %,10d %,10d %,10d %,10d %,10d%n", e.getKey(), c.get("attaches"),
                    c.get("detaches"), c.get("gets"), c.get("puts"), c.get("registers"), c.get("unregisters"),
                    c.get("notifiersAllocated"), c.get("notifiersFreed"));
            gets += c.get("gets");
            puts += c.get("puts");
        }
        out.printf("  (opens/closes: device files; allocated/freed: notifiers; %,d gets and %,d puts in all, each timed "
                + "in the latency table)%n%n", gets, puts);
        out.printf("%-8s %13s %11s %9s %13s %11s %10s %9s%n", "Driver", "accesses", "dev faults", "retries",
                "invalidations", "empty", "young", "releases");
        for (Map.Entry<String, Map<String, Long>> e : drivers.entrySet()) {
            Map<String, Long> c = e.getValue();
            out.printf("%-8s %,13d %,11d %,9d %,13d %,11d %,10d %,9d%n", e.getKey(), c.get("accesses"),
                    c.get("deviceFaults"), c.get("retries"), c.get("invalidations"), c.get("emptyInvalidations"),
                    c.get("youngCallbacks"), c.get("releases"));
        }
        out.println("  (dev faults: misses faulted in through the primary; retries: installs refused by the sequence check;");
        out.println("   empty: invalidations that found none of the driver's translations in their range)");
        out.println();
        out.printf("%-8s %16s %18s%n", "Driver", "stale in window", "access violations");
        for (Map.Entry<String, Map<String, Long>> e : drivers.entrySet()) {
            Map<String, Long> c = e.getValue();
            out.printf("%-8s %,16d %,18d%n", e.getKey(), c.get("staleWindowUses"), c.get("accessViolations"));
        }
        out.println("  (stale in window: a translation the kernel had just changed, used before the secondary flush that 5.4");
        out.println("   makes before freeing the page: allowed; access violations: every other stale use)");
        out.println();
        out.printf("%-28s %10s %10s %10s %10s %10s %10s%n", "Latency (us)", "count", "p50", "p90", "p99", "p99.9",
                "max");
        for (LatencyRow row : latencyRows()) {
            Histogram h = row.histogram();
            if (h.getTotalCount() == 0) { // nothing measured: no percentiles, rather than zeros that read as fast
                out.printf("%-28s %,10d %10s %10s %10s %10s %10s%n", row.label(), 0, "-", "-", "-", "-", "-");
                continue;
            }
            out.printf("%-28s %,10d %,10.1f %,10.1f %,10.1f %,10.1f %,10.1f%n", row.label(), h.getTotalCount(),
                    micros(h, 50), micros(h, 90), micros(h, 99), micros(h, 99.9), maxMicros(h));
        }
        for (String note : LATENCY_NOTES) {
            out.println(note);
        }
        out.println();
        out.printf("Throughput      %,.0f primary events/s (%,d in %,.1f s); %,.0f events/s with secondary accesses%n",
                primaryEventsPerSecond(), stats.primaryEvents(), seconds(), eventsPerSecond());
        out.printf("Timeline        %,d samples, one every %,d ms while the workers ran (--json, --html)%n",
                timeline.samples().size(), Timeline.INTERVAL_MILLIS);
        out.printf("Checker         %,d secondary accesses validated (%,d stale inside the allowed window); %,d violation%s%n",
                accessChecks, windowUses, violations, violations == 1 ? "" : "s");
        for (Map.Entry<Checker.Kind, Long> e : byKind.entrySet()) {
            out.printf("  %-44s %,12d%n", e.getKey().text, e.getValue());
        }
        for (String s : samples) {
            out.println("  e.g. " + s);
        }
        if (!verified.isEmpty()) {
            out.println("Verified at the end (each check, and the objects it covered):");
            verified.forEach((check, n) -> out.printf("  %-52s %,12d%n", check, n));
            out.printf("  %-52s %,12d%n", "secondary accesses validated against the primary", accessChecks);
        }
        out.println("Reproduce       " + reproductionCommand());
        if (config.threads() > 1 || config.events() == 0) {
            out.println("                (the same seed makes the same run only with --threads 1 and --events N: "
                    + "with more threads, or a duration, the interleaving and the clock differ)");
        }
        out.println(resultLine());
    }

    /**
     * The command line that runs this configuration again: every value spelled out, so that
     * neither the defaults file nor a --config file is needed. With one worker and {@code --events}
     * it reproduces the run exactly; otherwise the threads' interleaving and the clock differ.
     */
    String reproductionCommand() {
        StringBuilder b = new StringBuilder("java -jar simulator/target/mmu-simulator.jar");
        b.append(" --seed ").append(config.seed()).append(" --threads ").append(config.threads());
        if (config.events() > 0) {
            b.append(" --events ").append(config.events());
        } else {
            b.append(" --duration ").append(config.durationMillis()).append("ms");
        }
        b.append(" --processes ").append(config.processes()).append(" --pages ").append(config.pages())
                .append(" --frames ").append(config.frames()).append(" --max-map-pages ").append(config.maxMapPages())
                .append(" --max-handles ").append(config.maxHandles())
                .append(" --drivers ").append(String.join(",", config.drivers().stream().map(Object::toString).sorted()
                        .toList()))
                .append(" --unload ").append(config.unload()).append(" --check ").append(config.check())
                .append(" --inject ").append(config.inject()).append(" --kernel-order ").append(config.order());
        for (Op e : Op.events()) {
            b.append(' ').append(e.weightOption()).append(' ').append(config.weights().get(e));
        }
        return b.toString();
    }

    private Map<String, Long> verified = Map.of();

    /** The end-of-run checks that ran, each with the number of objects it covered. */
    void setVerified(Map<String, Long> checks) {
        this.verified = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(checks)); // keeps the order
    }

    /** @return the end-of-run checks made and the objects each covered */
    Map<String, Long> verified() {
        return verified;
    }

    /** @return the report's last line: the verdict */
    String resultLine() {
        if (interrupted) {
            return "RESULT: INTERRUPTED (stopped by Ctrl-C after " + String.format("%,.1f", seconds())
                    + " s; the checks cover the partial run: " + String.format("%,d", violations) + " violation"
                    + (violations == 1 ? "" : "s") + ")";
        }
        return violations != 0 ? "RESULT: FAIL (" + String.format("%,d", violations) + " violations)"
                : nothingChecked() ? "RESULT: NOTHING CHECKED (no violation, but no secondary access was validated: "
                        + "the run was too short or had no access events; exit status " + EXIT_NOTHING_CHECKED + ")"
                : config.check() ? "RESULT: PASS (no violation)"
                : "RESULT: PASS (no lifetime violation; access checker OFF, no access validated)";
    }
}
