package org.mmunotifier.simulator;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilderFactory;
import org.HdrHistogram.HistogramIterationValue;
import org.jsoup.Jsoup;
import org.jsoup.nodes.Document;
import org.jsoup.nodes.Element;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The report's outputs beside the text: the HTML page ({@code --html}), the HdrHistogram files
 * ({@code --hgrm}), the standalone charts ({@code --svg}), and the numbers they share with the
 * text report and the JSON. One short run, made once, feeds the page's tests.
 */
class ReportOutputsTest {
    private static final Pattern NUMBER = Pattern.compile("-?[0-9][0-9,]*(\\.[0-9]+)?");

    @TempDir
    static Path shared;

    /** One run of 300 ms with one worker, with every output. */
    private static CommandRun run;
    private static String html;
    private static JsonNode json;

    @TempDir
    Path tmp;

    private static CommandRun run(String... args) {
        return CommandRun.of(args);
    }

    @BeforeAll
    static void runOnce() throws IOException {
        run = run("-t", "1", "-s", "11", "-d", "300ms", "--processes", "8", "--json", shared.resolve("r.json").toString(),
                "--html", shared.resolve("r.html").toString(), "--hgrm", shared.resolve("hgrm/made").toString(),
                "--svg", shared.resolve("svg").toString());
        assertThat(run.code).as(run.out + run.err).isZero();
        html = Files.readString(shared.resolve("r.html"), StandardCharsets.UTF_8);
        json = new ObjectMapper().readTree(shared.resolve("r.json").toFile());
    }

    // ------------------------------------------------------------------ --html

    @Test
    void htmlPage_isWellFormedXml_andParsesAsHtml() throws Exception {
        var builder = DocumentBuilderFactory.newInstance().newDocumentBuilder();
        org.w3c.dom.Document xml = builder.parse(shared.resolve("r.html").toFile());
        assertThat(xml.getDocumentElement().getTagName()).isEqualTo("html");
        assertThat(xml.getElementsByTagName("svg").getLength()).isPositive();

        Document page = Jsoup.parse(html);
        assertThat(page.title()).contains("PASS");
        assertThat(page.select("h2").eachText()).contains("Processes", "Operations", "Invalidations by event",
                "Drivers", "Latency (µs)", "Throughput and violations over time", "Checker", "Reproduce");
        assertThat(page.select("pre").text()).isEqualTo(json.path("reproduce").asText());
    }

    @Test
    void json_everyKeyIsLowerCamelCase_exceptTheVerifiedChecksSentences() {
        java.util.List<String> bad = new java.util.ArrayList<>();
        java.util.Deque<Map.Entry<String, JsonNode>> todo = new java.util.ArrayDeque<>();
        todo.push(Map.entry("", json));
        while (!todo.isEmpty()) {
            Map.Entry<String, JsonNode> at = todo.pop();
            JsonNode n = at.getValue();
            if (n.isArray()) {
                n.forEach(x -> todo.push(Map.entry(at.getKey() + "[]", x)));
            } else if (n.isObject() && !at.getKey().equals("/verified")) {
                for (Map.Entry<String, JsonNode> e : n.properties()) {
                    if (!e.getKey().matches("[a-z][a-zA-Z0-9]*")) {
                        bad.add(at.getKey() + "/" + e.getKey());
                    }
                    todo.push(Map.entry(at.getKey() + "/" + e.getKey(), e.getValue()));
                }
            }
        }
        assertThat(bad).isEmpty();
        assertThat(json.path("operations").path("pageFault").asLong()).isPositive();
        assertThat(json.path("invalidations").has("protectionVma")).isTrue();
        assertThat(json.path("config").path("weights").has("softDirty")).isTrue();
        assertThat(json.path("schemaVersion").asInt()).isEqualTo(2);
    }

    @Test
    void gracePeriodProbe_timesOneSynchronizePerIntervalOfTheRun() {
        long probes = json.path("latency").path("gracePeriod").path("count").asLong();
        // The probe runs until the workers have stopped and the run is torn down, which on a
        // loaded machine is later than the configured 300 ms: bound it by the measured length
        // (each probe parks a full interval first; one more for a park that returns early).
        long elapsedMillis = Math.round(json.path("elapsedSeconds").asDouble() * 1000);
        long ticks = elapsedMillis / Timeline.INTERVAL_MILLIS;
        assertThat(probes).as("a probe every %d ms of a run that lasted %d ms", Timeline.INTERVAL_MILLIS, elapsedMillis)
                .isBetween(1L, ticks + 1);
    }

    @Test
    void htmlTables_everyNumberEqualsTheJsonOfTheSameRun() {
        Document page = Jsoup.parse(html);
        int compared = 0;
        for (Element td : page.select("td")) {
            String text = td.text();
            if (!td.hasAttr("data-json")) {
                assertThat(text).as("a number in the page with no JSON source").doesNotMatch(NUMBER);
                continue;
            }
            JsonNode value = json.at(td.attr("data-json"));
            assertThat(value.isNumber()).as(td.attr("data-json") + " in the JSON").isTrue();
            String plain = text.replace(",", "");
            int decimals = plain.contains(".") ? plain.length() - plain.indexOf('.') - 1 : 0;
            BigDecimal expected = value.decimalValue().setScale(decimals, RoundingMode.HALF_UP);
            assertThat(new BigDecimal(plain)).as(td.attr("data-json")).isEqualByComparingTo(expected);
            compared++;
        }
        // operations, invalidations, three driver tables, the latency table, throughput, checker
        assertThat(compared).isGreaterThan(Op.values().length + 17 * json.path("drivers").size());
        assertThat(page.select("td[data-json^=\"/drivers/\"]")).hasSize(17 * json.path("drivers").size());
        assertThat(page.select("td[data-json^=\"/latency/\"][data-json$=\"/count\"]"))
                .hasSize(json.path("latency").size());
    }

    @Test
    void htmlTimeCharts_haveOnePointPerSampleInTheJson() {
        JsonNode samples = json.path("timeline").path("samples");
        assertThat(samples.size()).as("a tick or more, then the end").isGreaterThanOrEqualTo(2);
        for (int i = 0; i + 1 < samples.size(); i++) { // one every 100 ms, at the earliest
            assertThat(samples.get(i).path("millis").asLong()).isGreaterThanOrEqualTo(100L * (i + 1));
        }
        Document page = Jsoup.parse(html);
        for (String title : List.of("primary events per second", "violations found so far")) {
            Element svg = chart(page, title);
            String points = svg.selectFirst("polyline").attr("points");
            assertThat(points.split(" ")).as(title).hasSize(samples.size());
        }
        assertThat(json.path("timeline").path("intervalMillis").asInt()).isEqualTo(100);
    }

    @Test
    void htmlLatencyCharts_oneForEachRowWithACount_withHdrHistogramsPercentilePoints() {
        Document page = Jsoup.parse(html);
        Report report = run.cmd.lastReport;
        int measured = 0;
        for (Report.LatencyRow row : report.latencyRows()) {
            if (row.histogram().getTotalCount() == 0) {
                continue;
            }
            measured++;
            Element svg = chart(page, HtmlReport.chartTitle(row));
            int iterations = 0;
            for (HistogramIterationValue v : row.histogram().percentiles(SvgChart.TICKS_PER_HALF_DISTANCE)) {
                iterations += v.getPercentileLevelIteratedTo() < 100.0 ? 1 : 0;
            }
            // every point of the distribution below 100%, then the maximum at the right edge
            assertThat(svg.selectFirst("polyline").attr("points").split(" ")).hasSize(iterations + 1);
            assertThat(svg.select("text").eachText()).contains("0%", "90%", "99%", "99.9%");
        }
        assertThat(measured).isGreaterThan(5);
    }

    @Test
    void htmlPage_hasNoExternalReference() {
        assertThat(html).doesNotContain("http").doesNotContain("<script").doesNotContain("<link")
                .doesNotContain("url(").doesNotContain("@import");
        Document page = Jsoup.parse(html);
        assertThat(page.select("[src], [href]")).isEmpty();
        assertThat(page.select("img, iframe, object, embed")).isEmpty();
    }

    @Test
    void htmlEscape_replacesTheFiveXmlSpecialCharacters() {
        assertThat(Html.escape("a&b<c>\"d'")).isEqualTo("a&amp;b&lt;c&gt;&quot;d&#39;");
        assertThat(html).contains("invalidate start-&gt;end").doesNotContain("start->end");
    }

    @Test
    void html_isRefusedBeforeTheRun_forADirectoryOrStdout() throws IOException {
        CommandRun dir = run("-t", "1", "--events", "1000", "--html", tmp.toString());
        assertBadInput(dir, "it is a directory");
        CommandRun stdout = run("-t", "1", "--events", "1000", "--html", "-");
        assertBadInput(stdout, "--html needs a file");
        Path file = Files.writeString(tmp.resolve("f"), "x");
        assertBadInput(run("-t", "1", "--events", "1000", "--html", file.resolve("r.html").toString()),
                "is a file, not a directory");
    }

    // ------------------------------------------------------------------ --hgrm, --svg

    @Test
    void hgrm_writesOneFilePerRowWithACount_inMicroseconds_withHdrHistogramsFooter() throws IOException {
        Path dir = shared.resolve("hgrm/made");
        Report report = run.cmd.lastReport;
        int files = 0;
        for (Report.LatencyRow row : report.latencyRows()) {
            Path file = dir.resolve(row.key() + ".hgrm");
            if (row.histogram().getTotalCount() == 0) {
                assertThat(file).doesNotExist();
                continue;
            }
            files++;
            List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            int steps = 0;
            for (Iterator<HistogramIterationValue> it = row.histogram().percentiles(5).iterator(); it.hasNext(); it.next()) {
                steps++;
            }
            assertThat(lines).as(file.toString()).hasSize(2 + steps + 3); // heading, blank, one per step, footer
            assertThat(lines.get(0)).contains("Value").contains("Percentile").contains("1/(1-Percentile)");
            assertThat(lines.get(lines.size() - 3)).startsWith("#[Mean");
            assertThat(lines.get(lines.size() - 1)).startsWith("#[Buckets");
            // the unit: microseconds, the JSON's maxMicros
            double max = json.path("latency").path(row.key()).path("maxMicros").asDouble();
            assertThat(lines.get(lines.size() - 2)).contains(String.format(java.util.Locale.ROOT, "%.2f", max));
        }
        assertThat(files).isGreaterThan(5);
        try (var listing = Files.list(dir)) {
            assertThat(listing.count()).as("no other file, no probe left").isEqualTo(files);
        }
    }

    @Test
    void hgrm_aPathThatIsAFile_isRefusedBeforeTheRun_andNothingIsMade() throws IOException {
        Path file = Files.writeString(tmp.resolve("not-a-dir"), "keep");
        assertBadInput(run("-t", "1", "--events", "1000", "--hgrm", file.toString()), "it is a file, not a directory");
        assertBadInput(run("-t", "1", "--events", "1000", "--hgrm", file.resolve("sub").toString()),
                "is a file, not a directory");
        assertThat(Files.readString(file)).isEqualTo("keep");
        // a bad --hgrm refuses the run before the --json file is touched
        Path jsonFile = tmp.resolve("r.json");
        assertBadInput(run("-t", "1", "--events", "1000", "--json", jsonFile.toString(), "--hgrm", file.toString()),
                "--hgrm");
        assertThat(jsonFile).doesNotExist();
    }

    @Test
    void svg_writesEveryChartAsAStandaloneSvgFile() throws Exception {
        Path dir = shared.resolve("svg");
        Map<String, String> charts = HtmlReport.standaloneCharts(run.cmd.lastReport);
        assertThat(charts).containsKeys("throughput", "violations", "invalidations-by-event", "latency-invalidate");
        var factory = DocumentBuilderFactory.newInstance();
        factory.setNamespaceAware(true);
        for (String name : charts.keySet()) {
            org.w3c.dom.Document svg = factory.newDocumentBuilder().parse(dir.resolve(name + ".svg").toFile());
            assertThat(svg.getDocumentElement().getNamespaceURI()).isEqualTo("http://www.w3.org/2000/svg");
        }
    }

    // ------------------------------------------------------------------ numbers that agree

    @Test
    void latencyCounts_equalTheDriverTablesAndTheInvalidations() {
        JsonNode lat = json.path("latency");
        long gets = 0;
        long puts = 0;
        long releases = 0;
        long deferredFrees = 0;
        for (Map.Entry<String, JsonNode> d : json.path("drivers").properties()) {
            gets += d.getValue().path("gets").asLong();
            puts += d.getValue().path("puts").asLong();
            releases += d.getValue().path("releases").asLong();
            // kvm frees right after unregister, dmirror's remove is synchronous: no deferred free
            if (!d.getKey().equals("kvm") && !d.getKey().equals("dmirror")) {
                deferredFrees += d.getValue().path("notifiersFreed").asLong();
            }
        }
        assertThat(lat.path("get").path("count").asLong()).isEqualTo(gets).isPositive();
        assertThat(lat.path("put").path("count").asLong()).isEqualTo(puts).isPositive();
        assertThat(lat.path("release").path("count").asLong()).isEqualTo(releases).isPositive();
        assertThat(lat.path("deferredFree").path("count").asLong()).isEqualTo(deferredFrees).isPositive();
        assertThat(lat.path("synchronize").path("count").asLong()).as("the accel unload and the end of the run")
                .isEqualTo(2);
        assertThat(lat.path("lastMmput").path("count").asLong()).isPositive()
                .isLessThanOrEqualTo(json.path("processes").path("exitedDuringRun").asLong());
        long byEvent = 0;
        for (Map.Entry<String, JsonNode> e : json.path("invalidations").properties()) {
            String key = "invalidate" + Character.toUpperCase(e.getKey().charAt(0)) + e.getKey().substring(1);
            assertThat(lat.path(key).path("count").asLong()).as(key).isEqualTo(e.getValue().asLong());
            byEvent += e.getValue().asLong();
        }
        assertThat(lat.path("invalidate").path("count").asLong()).isEqualTo(byEvent);
    }

    @Test
    void synchronize_isCountedOnce_withoutTheAccelDriver() throws IOException {
        // With the accel driver, --unload false still unloads it in the teardown: two synchronizes.
        Path j = tmp.resolve("s.json");
        CommandRun r = run("-t", "1", "-s", "2", "--events", "3000", "--drivers", "gpu,kvm,iommu", "--unload", "false",
                "--json", j.toString());
        assertThat(r.code).as(r.err).isZero();
        assertThat(new ObjectMapper().readTree(j.toFile()).path("latency").path("synchronize").path("count").asLong())
                .isEqualTo(1);
    }

    @Test
    void textReport_hasEveryJsonLatencyRow_andThousandsSeparatorsInEveryNumber() {
        List<String> lines = run.out.lines().toList();
        for (Map.Entry<String, JsonNode> entry : json.path("latency").properties()) {
            JsonNode row = entry.getValue();
            String label = row.path("label").asText();
            String count = String.format("%,d", row.path("count").asLong());
            assertThat(lines).as(label).anyMatch(l -> l.startsWith(label) && l.substring(label.length()).strip()
                    .startsWith(count));
        }
        List<String> bare = new ArrayList<>();
        Pattern unseparated = Pattern.compile("(?<![0-9,.])[0-9]{4,}");
        for (String l : lines) {
            // the reproduction line is a command; violation samples name frames and pids
            if (!l.startsWith("Reproduce") && !l.startsWith("  e.g.") && unseparated.matcher(l).find()) {
                bare.add(l);
            }
        }
        assertThat(bare).isEmpty();
        assertThat(run.out).contains(String.format("exited %,d (%,d during the run",
                json.path("processes").path("exited").asLong(), json.path("processes").path("exitedDuringRun").asLong()));
    }

    // ------------------------------------------------------------------ helpers

    private static Element chart(Document page, String title) {
        for (Element svg : page.select("svg")) {
            Element t = svg.selectFirst("title");
            if (t != null && t.text().equals(title)) {
                return svg;
            }
        }
        throw new AssertionError("no chart titled '" + title + "' in the page");
    }

    private static void assertBadInput(CommandRun r, String mentioning) {
        assertThat(r.code).as(r.err).isEqualTo(2);
        assertThat(r.err.strip()).as("one line").doesNotContain("\n").contains(mentioning);
        assertThat(r.out).as("no run").isEmpty();
    }
}
