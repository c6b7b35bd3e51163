package org.mmunotifier.simulator;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.mmunotifier.mm.MmuNotifierEvent;
import org.mmunotifier.simulator.check.Checker;

/**
 * The report as one self-contained HTML page ({@code --html FILE}): the text report's tables,
 * with the latency percentile plots, the invalidations by event, and the throughput and the
 * violations over time drawn as inline SVG ({@link SvgChart}). No script, no external style,
 * font or image: the page works offline. It is also well-formed XML (XHTML syntax).
 *
 * <p>Every number in a table is read from the JSON tree of the same report
 * ({@link Report#toJsonTree}), and its cell names where with a {@code data-json} attribute (a
 * JSON pointer, RFC 6901), so the page and the JSON cannot disagree unnoticed.
 */
final class HtmlReport {
    private static final String STYLE = """
            body{font:14px/1.4 sans-serif;margin:1.5em;color:#222;max-width:1400px}
            h1{font-size:20px}h2{font-size:17px;margin-top:1.6em;border-bottom:1px solid #ccc}
            table{border-collapse:collapse;margin:.5em 0}
            td,th{border:1px solid #ccc;padding:2px 8px}th{background:#f2f2f2;text-align:left}
            td.n{text-align:right;font-variant-numeric:tabular-nums}
            td.sub{padding-left:24px}
            .note{color:#555;font-size:12px;margin:.2em 0}
            .charts{display:flex;flex-wrap:wrap;gap:12px}
            .chart text{font:12px sans-serif;fill:#222}.chart .title{font-weight:bold;font-size:14px}
            .chart .grid{stroke:#ddd}.chart .frame{stroke:#888;fill:none}
            .chart .line{fill:none;stroke:#1f5fa8;stroke-width:2}.chart .bar{fill:#1f5fa8}
            .PASS{color:#126b12}.FAIL,.INTERRUPTED,.NOTHING_CHECKED{color:#a31515}
            pre{white-space:pre-wrap;background:#f7f7f7;padding:6px}
            """;

    private final Report report;
    private final Map<String, Object> json;
    private final StringBuilder b = new StringBuilder(64 * 1024);

    private HtmlReport(Report report, Map<String, Object> json) {
        this.report = report;
        this.json = json;
    }

    /**
     * Builds the page.
     *
     * @param json the report's JSON tree ({@link Report#toJsonTree}), which the tables are read from
     * @return the whole page
     */
    static String page(Report report, Map<String, Object> json) {
        return new HtmlReport(report, json).build();
    }

    /**
     * The page's charts, each as a standalone SVG document (with the SVG namespace), by a name
     * fit for a file: {@code latency-KEY}, {@code invalidations-by-event}, {@code throughput},
     * {@code violations}.
     */
    static Map<String, String> standaloneCharts(Report report) {
        Map<String, String> charts = new java.util.LinkedHashMap<>();
        for (Report.LatencyRow row : report.latencyRows()) {
            if (row.histogram().getTotalCount() > 0) {
                charts.put("latency-" + row.key(), SvgChart.percentilePlot(chartTitle(row), row.histogram(), true));
            }
        }
        charts.put("invalidations-by-event", invalidationChart(report, true));
        charts.put("throughput", throughputChart(report, true));
        charts.put("violations", violationChart(report, true));
        return charts;
    }

    private String build() {
        SimConfig c = report.config();
        b.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>")
                .append(Html.escape("MMU notifier simulator: " + report.result() + ", seed " + c.seed())).append("</title>\n")
                .append("<style>\n").append(STYLE).append("</style>\n</head>\n<body>\n");
        b.append("<h1>MMU notifier simulator report</h1>\n");
        b.append("<p class=\"").append(report.result()).append("\"><strong>")
                .append(Html.escape(report.resultLine())).append("</strong></p>\n");
        b.append("<p>").append(Html.escape(String.format(Locale.ROOT, "seed %d, %,d worker thread%s, %s, checker %s, "
                + "fault injection: %s, kernel order: %s; drivers: %s; finished at %s (UTC)", c.seed(), c.threads(),
                c.threads() == 1 ? "" : "s", c.events() > 0 ? String.format(Locale.ROOT, "%,d primary events per worker",
                        c.events()) : String.format(Locale.ROOT, "%,d ms", c.durationMillis()),
                c.check() ? "on" : "OFF", c.inject(), c.order(), String.join(", ", report.drivers().keySet()),
                json.get("finishedAt")))).append("</p>\n");

        section("Processes");
        table(List.of("spawned", "forked", "exited", "of which during the run", "live at the end (exited in the teardown)"),
                List.of(List.of(num("processes", "spawned"), num("processes", "forked"), num("processes", "exited"),
                        num("processes", "exitedDuringRun"),
                        num("processes", "liveAtEnd"))));

        section("Operations");
        List<List<Cell>> ops = new ArrayList<>();
        for (Op op : Op.values()) {
            ops.add(List.of(Cell.text(op.label, false), num("operations", Report.jsonKey(op.name()))));
        }
        table(List.of("operation", "count"), ops);

        section("Invalidations by event");
        b.append("<div class=\"charts\">\n").append(invalidationChart(report, false)).append("</div>\n");
        List<List<Cell>> inv = new ArrayList<>();
        for (MmuNotifierEvent e : MmuNotifierEvent.values()) {
            inv.add(List.of(Cell.text(e.name(), false), num("invalidations", Report.jsonKey(e.name()))));
        }
        table(List.of("event", "ranges"), inv);

        section("Drivers");
        driverTable(List.of("attaches", "detaches", "gets", "puts", "registers", "unregisters", "notifiersAllocated",
                "notifiersFreed"), List.of("opens", "closes", "gets", "puts", "registers", "unregisters",
                "notifiers allocated", "notifiers freed"));
        note("opens/closes: device files; allocated/freed: notifiers; every get and put is timed in the latency table.");
        driverTable(List.of("accesses", "deviceFaults", "retries", "invalidations", "emptyInvalidations", "youngCallbacks",
                "releases"), List.of("accesses", "device faults", "retries", "invalidations", "of them empty",
                "young callbacks", "releases"));
        note("device faults: misses faulted in through the primary; retries: installs refused by the sequence check.");
        driverTable(List.of("staleWindowUses", "accessViolations"), List.of("stale in window", "access violations"));
        note("stale in window: a translation the kernel had just changed, used before the secondary flush that 5.4 "
                + "makes before freeing the page: allowed; access violations: every other stale use.");

        section("Latency (µs)");
        List<List<Cell>> lat = new ArrayList<>();
        for (Report.LatencyRow row : report.latencyRows()) {
            List<Cell> cells = new ArrayList<>();
            boolean sub = row.label().startsWith(" ");
            cells.add(new Cell(Html.escape(row.label().strip()), null, sub ? "sub" : null));
            cells.add(num("latency", row.key(), "count"));
            for (String k : List.of("p50Micros", "p90Micros", "p99Micros", "p999Micros", "maxMicros")) {
                cells.add(row.histogram().getTotalCount() == 0 ? Cell.text("-", true) : num("latency", row.key(), k));
            }
            lat.add(cells);
        }
        table(List.of("latency", "count", "p50", "p90", "p99", "p99.9", "max"), lat);
        List<String> notes = new ArrayList<>();
        for (String line : Report.LATENCY_NOTES) {
            notes.add(line.strip());
        }
        note(String.join(" ", notes).replaceAll("^\\(|\\)$", ""));
        b.append("<div class=\"charts\">\n");
        for (Report.LatencyRow row : report.latencyRows()) {
            if (row.histogram().getTotalCount() > 0) {
                b.append(SvgChart.percentilePlot(chartTitle(row), row.histogram(), false));
            }
        }
        b.append("</div>\n");

        section("Throughput and violations over time");
        table(List.of("primary events", "primary events/s", "all events", "all events/s", "elapsed (s)"),
                List.of(List.of(num("throughput", "primaryEvents"), num("throughput", "primaryEventsPerSecond"),
                        num("throughput", "allEvents"), num("throughput", "allEventsPerSecond"), num3("elapsedSeconds"))));
        note(String.format(Locale.ROOT, "%,d samples, one every %,d ms while the workers ran; each point of the "
                + "throughput chart is the rate since the sample before it; the charts count the workers' and kswapd's "
                + "primary events (the totals above add the set-up's and the teardown's).",
                report.timeline().samples().size(), Timeline.INTERVAL_MILLIS));
        b.append("<div class=\"charts\">\n").append(throughputChart(report, false)).append(violationChart(report, false))
                .append("</div>\n");

        section("Checker");
        table(List.of("secondary accesses validated", "stale inside the allowed window", "violations"),
                List.of(List.of(num("checker", "accessesValidated"), num("checker", "staleWindowUses"),
                        num("checker", "violations"))));
        if (!report.violationsByKind().isEmpty()) {
            List<List<Cell>> kinds = new ArrayList<>();
            for (Checker.Kind k : report.violationsByKind().keySet()) {
                kinds.add(List.of(Cell.text(k.text, false), num("checker", "byKind", Report.jsonKey(k.name()))));
            }
            table(List.of("violation", "count"), kinds);
        }
        if (!report.samples().isEmpty()) {
            b.append("<p>Samples (the first of each kind, then others):</p>\n<ul>\n");
            for (String s : report.samples()) {
                b.append("<li><code>").append(Html.escape(s)).append("</code></li>\n");
            }
            b.append("</ul>\n");
        }
        if (!report.verified().isEmpty()) {
            b.append("<p>Verified at the end (each check, and the objects it covered):</p>\n");
            List<List<Cell>> ver = new ArrayList<>();
            for (String check : report.verified().keySet()) {
                ver.add(List.of(Cell.text(check, false), num("verified", check)));
            }
            ver.add(List.of(Cell.text("secondary accesses validated against the primary", false),
                    num("checker", "accessesValidated")));
            table(List.of("check", "objects"), ver);
        }

        section("Reproduce");
        b.append("<pre>").append(Html.escape(report.reproductionCommand())).append("</pre>\n");
        if (c.threads() > 1 || c.events() == 0) {
            note("The same seed makes the same run only with --threads 1 and --events N: with more threads, or a "
                    + "duration, the interleaving and the clock differ.");
        }
        b.append("</body>\n</html>\n");
        return b.toString();
    }

    static String chartTitle(Report.LatencyRow row) {
        String label = row.label().startsWith(" ") ? "invalidate " + row.label().strip() : row.label();
        return String.format(Locale.ROOT, "%s: %,d, in µs", label, row.histogram().getTotalCount());
    }

    private static String invalidationChart(Report report, boolean standalone) {
        List<String> labels = new ArrayList<>();
        long[] values = new long[MmuNotifierEvent.values().length];
        for (MmuNotifierEvent e : MmuNotifierEvent.values()) {
            labels.add(e.name());
            values[e.ordinal()] = report.invalidations(e);
        }
        return SvgChart.barChart("invalidation ranges by event", labels, values, standalone);
    }

    private static String throughputChart(Report report, boolean standalone) {
        List<Timeline.Sample> samples = report.timeline().samples();
        return SvgChart.timePlot("primary events per second", "primary events/s", seconds(samples),
                report.timeline().primaryEventsPerSecond(), standalone);
    }

    private static String violationChart(Report report, boolean standalone) {
        List<Timeline.Sample> samples = report.timeline().samples();
        double[] v = new double[samples.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = samples.get(i).violations();
        }
        return SvgChart.timePlot("violations found so far", "violations", seconds(samples), v, standalone);
    }

    private static double[] seconds(List<Timeline.Sample> samples) {
        double[] s = new double[samples.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = samples.get(i).millis() / 1e3;
        }
        return s;
    }

    // ------------------------------------------------------------------ tables

    /**
     * One table cell: its escaped content, the JSON pointer of its number (or null), a CSS class.
     */
    private record Cell(String html, String pointer, String cssClass) {
        static Cell text(String s, boolean numeric) {
            return new Cell(Html.escape(s), null, numeric ? "n" : null);
        }
    }

    /** @return a cell showing the JSON number at {@code path}: a whole number, or one with one decimal */
    private Cell num(String... path) {
        return num(1, path);
    }

    private Cell num3(String... path) {
        return num(3, path);
    }

    private Cell num(int decimals, String... path) {
        Object v = json;
        StringBuilder pointer = new StringBuilder();
        for (String p : path) {
            if (!(v instanceof Map<?, ?> m) || !m.containsKey(p)) {
                throw new IllegalStateException("no JSON value at " + pointer + "/" + p);
            }
            v = m.get(p);
            pointer.append('/').append(p.replace("~", "~0").replace("/", "~1"));
        }
        String text;
        if (v instanceof Double || v instanceof Float) {
            text = String.format(Locale.ROOT, "%,." + decimals + "f", ((Number) v).doubleValue());
        } else if (v instanceof Number n) {
            text = String.format(Locale.ROOT, "%,d", n.longValue());
        } else {
            throw new IllegalStateException("the JSON value at " + pointer + " is not a number: " + v);
        }
        return new Cell(text, pointer.toString(), "n");
    }

    private void driverTable(List<String> keys, List<String> headings) {
        List<String> head = new ArrayList<>();
        head.add("driver");
        head.addAll(headings);
        List<List<Cell>> rows = new ArrayList<>();
        for (String driver : report.drivers().keySet()) {
            List<Cell> row = new ArrayList<>();
            row.add(Cell.text(driver, false));
            for (String k : keys) {
                row.add(num("drivers", driver, k));
            }
            rows.add(row);
        }
        table(head, rows);
    }

    private void table(List<String> head, List<List<Cell>> rows) {
        b.append("<table>\n<tr>");
        for (String h : head) {
            b.append("<th>").append(Html.escape(h)).append("</th>");
        }
        b.append("</tr>\n");
        for (List<Cell> row : rows) {
            b.append("<tr>");
            for (Cell c : row) {
                b.append("<td");
                if (c.cssClass() != null) {
                    b.append(" class=\"").append(c.cssClass()).append('"');
                }
                if (c.pointer() != null) {
                    b.append(" data-json=\"").append(Html.escape(c.pointer())).append('"');
                }
                b.append('>').append(c.html()).append("</td>");
            }
            b.append("</tr>\n");
        }
        b.append("</table>\n");
    }

    private void section(String title) {
        b.append("<h2>").append(Html.escape(title)).append("</h2>\n");
    }

    private void note(String text) {
        b.append("<p class=\"note\">").append(Html.escape(text)).append("</p>\n");
    }
}
