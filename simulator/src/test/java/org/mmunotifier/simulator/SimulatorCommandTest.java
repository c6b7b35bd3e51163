package org.mmunotifier.simulator;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

class SimulatorCommandTest {
    /** A short deterministic run: every test that runs the simulation starts from these. */
    private static final String[] SHORT = {"--threads", "1", "--seed", "7", "--events", "20000", "--processes", "6"};

    @TempDir
    Path tmp;

    private static CommandRun run(String... args) {
        return CommandRun.of(args);
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    private static void assertBadInput(CommandRun r, String mentioning) {
        assertThat(r.code).as(r.err).isEqualTo(2);
        assertThat(r.err.strip()).as("one line").doesNotContain("\n").contains(mentioning);
        assertThat(r.err).doesNotContain("Exception").doesNotContain("\tat ");
        assertThat(r.out).isEmpty();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "--bogus|--bogus",
        "--processes=-1|processes",
        "--events=-5|events",
        "--duration=0s|duration must be positive",
        "--duration=soon|soon",
        "--threads=0|threads",
        "--threads=many|many",
        "--inject=everything|everything",
        "--drivers=gpu,floppy|floppy",
        "--seed=abc|abc",
        "--pages=3|pages",
        "--weight-fault=-1|weight-fault",
        "--max-map-pages=100000|max-map-pages",
        "--drivers=kvm --inject=skip-invalidation|needs the gpu driver",
        "--inject=unload-without-put --unload=false|needs unload = true",
        "--check=maybe|maybe",
        "--inject=skip-invalidation --check=false|needs check = true",
        "--duration=25h|at most 24h",
        "--duration=1e30h|at most 24h",
        "--processes=100000000|processes must be between",
        "--threads=2 --weight-fault=0 --weight-access=0 --weight-mmap=0 --weight-munmap=0 --weight-mprotect=0 --weight-migrate=0 --weight-mremap=0 --weight-dontneed=0 --weight-mkclean=0 --weight-soft-dirty=0 --weight-fork=0 --weight-exit=0 --weight-oom-kill=0 --weight-attach=0 --weight-detach=0 --weight-khugepaged=0|weight-reclaim"})
    void badOption_isOneLineAndExitCode2(String args, String mentioning) {
        assertBadInput(run(args.split(" ")), mentioning);
    }

    @Test
    void missingConfigFile_isBadInput() {
        assertBadInput(run("--config", tmp.resolve("nope.properties").toString()), "does not exist");
    }

    @Test
    void configWithUnknownKey_isBadInput() throws IOException {
        Path f = Files.writeString(tmp.resolve("c.properties"), "threads = 1\nthreds = 2\n");
        assertBadInput(run("--config", f.toString()), "unknown key 'threds'");
    }

    @Test
    void configWithValueThatDoesNotParse_isBadInput() throws IOException {
        Path f = Files.writeString(tmp.resolve("c.properties"), "threads = lots\n");
        assertBadInput(run("--config=" + f), "lots");
    }

    @Test
    void malformedConfigFile_isBadInput() throws IOException {
        Path f = Files.writeString(tmp.resolve("c.properties"), "threads = \\uZZZZ\n");
        assertBadInput(run("--config", f.toString()), "malformed");
    }

    @Test
    void unreadableConfig_aDirectory_isBadInput() {
        assertBadInput(run("--config", tmp.toString()), "cannot read");
    }

    @Test
    void jsonIntoMissingDirectory_isBadInput() {
        assertBadInput(run(concat(SHORT, "--json", tmp.resolve("no/such/dir/r.json").toString())), "does not exist");
    }

    @Test
    void booleanOptions_takeAnExplicitValue() {
        CommandRun r = run(concat(SHORT, "--unload=false", "--check", "false"));
        assertThat(r.code).as(r.err).isZero();
        assertThat(r.cmd.toConfig().unload()).isFalse();
        assertThat(r.cmd.toConfig().check()).isFalse();
        assertThat(r.out).contains("checker OFF");
    }

    @Test
    void help_exitsZero() {
        CommandRun r = run("--help");
        assertThat(r.code).isZero();
        assertThat(r.out).contains("--inject").contains("Exit codes");
    }

    @Test
    void help_listsOneWeightOptionPerEventOfOp_afterInject_andHelpLast() {
        CommandRun r = run("--help");
        String options = r.out.substring(r.out.indexOf("--config=FILE  "));
        int previous = options.indexOf("--inject=BUG");
        for (Op event : Op.events()) {
            int at = options.indexOf(event.weightOption() + "=N");
            assertThat(at).as("%s after the option before it", event.weightOption()).isGreaterThan(previous);
            previous = at;
        }
        assertThat(options.indexOf("--json=FILE")).isGreaterThan(previous);
        assertThat(options.indexOf("-h, --help")).isGreaterThan(options.indexOf("--progress"));
        assertThat(options.indexOf("-V, --version")).isGreaterThan(options.indexOf("-h, --help"));
    }

    private static CommandSpec spec() {
        return SimulatorCommand.commandLine(new SimulatorCommand(System.out, System.err)).getCommandSpec();
    }

    @Test
    void shippedDefaults_haveOneWeightPerEventOfOp_andNoOther() {
        Set<String> weightKeys = new TreeSet<>();
        for (String key : loadShipped().stringPropertyNames()) {
            if (key.startsWith("weight-")) {
                weightKeys.add(key);
            }
        }
        Set<String> eventKeys = new TreeSet<>();
        for (Op event : Op.events()) {
            eventKeys.add(event.weightKey());
        }
        assertThat(weightKeys).isEqualTo(eventKeys);
    }

    @Test
    void shippedDefaults_coverEveryOption_andNothingElse() {
        Set<String> options = new TreeSet<>();
        for (OptionSpec o : spec().options()) {
            options.add(o.longestName().replaceFirst("^-+", ""));
        }
        options.removeAll(Set.of("config", "help", "version", "json", "html", "hgrm", "svg", "progress", "quiet", "list",
                "print-config"));
        assertThat(new TreeSet<>(loadShipped().stringPropertyNames())).isEqualTo(options);
        assertThat(SimulatorCommand.defaultsDisagreements(loadShipped(), spec())).isEmpty();
    }

    @Test
    void defaultsCheck_namesAMissingWeightAndAnUnknownKey() {
        Properties p = loadShipped();
        p.remove(Op.PAGE_FAULT.weightKey());
        p.setProperty("weight-bogus", "3");
        assertThat(SimulatorCommand.defaultsDisagreements(p, spec()))
                .containsExactly("no default for 'weight-fault'", "unknown key 'weight-bogus'");
    }

    @Test
    void shippedDefaults_matchSimConfigDefaults_exceptTheSeed() {
        SimulatorCommand cmd = new SimulatorCommand(System.out, System.err);
        CommandLine cl = SimulatorCommand.commandLine(cmd);
        cl.setDefaultValueProvider(new CommandLine.PropertiesDefaultProvider(loadShipped()));
        cl.parseArgs("--seed", "1");
        assertThat(cmd.toConfig()).isEqualTo(SimConfig.defaults());
    }

    private static Properties loadShipped() {
        Properties p = new Properties();
        try (InputStream in = SimulatorCommand.class.getResourceAsStream(SimulatorCommand.DEFAULTS)) {
            p.load(in);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return p;
    }

    @Test
    void userConfig_overridesDefaults_andOptionsOverrideTheFile() throws IOException {
        Path f = Files.writeString(tmp.resolve("c.properties"), "processes = 5\ndrivers = kvm\n");
        CommandRun r = run(concat(SHORT, "--config", f.toString(), "--drivers", "iommu"));
        assertThat(r.code).as(r.err).isZero();
        assertThat(r.cmd.lastReport).isNotNull();
        SimConfig cfg = r.cmd.toConfig();
        assertThat(cfg.drivers()).containsExactly(SimConfig.Driver.IOMMU);
        assertThat(cfg.processes()).isEqualTo(6);
        assertThat(r.out).contains("drivers: iommu");
    }

    @Test
    void eventWeight_comesFromTheUserFile_andTheOptionOverridesIt() throws IOException {
        Path f = Files.writeString(tmp.resolve("c.properties"), "weight-mmap = 7\nweight-detach = 0\n");
        CommandRun r = run(concat(SHORT, "--config", f.toString(), "--weight-detach", "9"));
        assertThat(r.code).as(r.err).isZero();
        SimConfig.Weights w = r.cmd.toConfig().weights();
        assertThat(w.get(Op.MMAP)).isEqualTo(7);
        assertThat(w.get(Op.DETACH)).isEqualTo(9);
        assertThat(w.get(Op.PAGE_FAULT)).isEqualTo(Op.PAGE_FAULT.defaultWeight());
    }

    @Test
    void cleanRun_printsTheReport_writesJson_andExitsZero() throws IOException {
        Path json = tmp.resolve("report.json");
        CommandRun r = run(concat(SHORT, "--json", json.toString()));
        assertThat(r.code).as(r.out + r.err).isZero();
        assertThat(r.out).contains("Operations").contains("Invalidations by event").contains("Latency (us)")
                .contains("Throughput").contains("RESULT: PASS");
        JsonNode root = new ObjectMapper().readTree(json.toFile());
        assertThat(root.path("checker").path("violations").asLong(-1)).isZero();
        assertThat(root.path("config").path("seed").asLong()).isEqualTo(7);
        assertThat(root.path("operations").path("pageFault").asLong()).isPositive();
        assertThat(root.path("latency").path("invalidate").path("count").asLong()).isPositive();
        assertThat(root.path("throughput").path("primaryEventsPerSecond").asDouble()).isPositive();
        assertThat(root.path("drivers").path("gpu").path("notifiersAllocated").asLong()).isPositive();
        assertThat(root.path("exitCode").asInt(-1)).isZero();
    }

    @Test
    void injectedBug_exitsOne_andReportsViolations() {
        CommandRun r = run(concat(SHORT, "--inject", "skip-invalidation"));
        assertThat(r.code).isEqualTo(1);
        assertThat(r.out).contains("RESULT: FAIL").contains("gpu");
    }

    @Test
    void durationParser_acceptsTheDocumentedForms() {
        assertThat(SimulatorCommand.parseDurationMillis("500ms")).isEqualTo(500);
        assertThat(SimulatorCommand.parseDurationMillis("20s")).isEqualTo(20_000);
        assertThat(SimulatorCommand.parseDurationMillis("2m")).isEqualTo(120_000);
        assertThat(SimulatorCommand.parseDurationMillis("PT1.5S")).isEqualTo(1_500);
        assertThat(SimulatorCommand.parseDurationMillis("3")).isEqualTo(3_000);
    }

    @Test
    void hugeWeights_areRefusedByName_insteadOfOverflowingTheirSum() {
        // Summed as int, two maximal weights wrapped around to a small positive total: the run
        // used a nonsense mix, and "fault + access = 2^31" was refused for the wrong reason.
        assertBadInput(run("--weight-fault", "2147483647", "--weight-access", "2147483647", "--weight-mmap", "2"),
                "weight-fault must be at most 1000000, got 2147483647");
        assertBadInput(run("--weight-fault", "2147483647", "--weight-access", "1"),
                "weight-fault must be at most 1000000");
        assertThat(run("--help").out).contains("From 0 to 1000000 (default");
    }

    @Test
    void aRunThatValidatedNoAccess_saysSo_andExitsWithItsOwnStatus() {
        // It used to end in "RESULT: PASS" with "0 secondary accesses validated".
        CommandRun r = run("--threads", "1", "--seed", "1", "--events", "2000", "--weight-access", "0");
        assertThat(r.code).as(r.out + r.err).isEqualTo(4);
        assertThat(r.out).contains("RESULT: NOTHING CHECKED").doesNotContain("RESULT: PASS");
        CommandRun checked = run("--threads", "1", "--seed", "1", "--events", "2000");
        assertThat(checked.code).as(checked.out + checked.err).isZero();
        assertThat(checked.out).contains("RESULT: PASS (no violation)");
    }

    @Test
    void eventsAndDurationTogether_areRefused_andAnEventBoundRunSaysSoInItsHeader() {
        // --events used to win silently, the header then showing the elapsed time as if timed.
        assertBadInput(run("--events", "1000", "--duration", "5s"), "both bound the run");
        CommandRun r = run("--threads", "1", "--seed", "1", "--events", "1000");
        assertThat(r.out).as(r.err).contains("1,000 primary events per worker in ");
    }

    @Test
    void jsonPath_isCheckedBeforeTheRun_andDashMeansStdout() throws Exception {
        // These were refused only after the run, once the report was printed.
        assertBadInput(run("--threads", "1", "--events", "1000", "--json", tmp.toString()), "it is a directory");
        Path file = tmp.resolve("plain-file");
        java.nio.file.Files.writeString(file, "x");
        assertBadInput(run("--threads", "1", "--events", "1000", "--json", file.resolve("r.json").toString()),
                "is a file, not a directory");
        if (java.nio.file.Files.exists(Path.of("/dev/full"))) {
            assertBadInput(run("--threads", "1", "--events", "1000", "--json", "/dev/full"), "/dev/full");
        }
        CommandRun r = run("--threads", "1", "--seed", "1", "--events", "2000", "--json", "-");
        assertThat(r.code).as(r.err).isZero();
        com.fasterxml.jackson.databind.JsonNode root = new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.out);
        assertThat(root.path("exitCode").asInt(-1)).as("stdout is the JSON alone").isZero();
        assertThat(r.err).contains("RESULT: PASS");
    }

    @Test
    void configFileErrors_nameTheFileTheLineAndTheKey() throws Exception {
        // They used to read as command-line errors: "Invalid value for option '--threads'".
        Path cfg = tmp.resolve("bad.properties");
        java.nio.file.Files.writeString(cfg, "# a comment\nprocesses = 4\nthreads = many\n");
        assertBadInput(run("--config", cfg.toString()), "configuration file " + cfg + " line 3, key 'threads': "
                + "'many' is not a whole number");
        java.nio.file.Files.writeString(cfg, "threads = 2   # two workers\n");
        assertBadInput(run("--config", cfg.toString()), "line 1, key 'threads'");
        assertBadInput(run("--config", cfg.toString()), "put the comment on a line of its own");
        java.nio.file.Files.writeString(cfg, "\ninject = bogus\n");
        assertBadInput(run("--config", cfg.toString()), "line 2, key 'inject': unknown fault injection 'bogus'");
        java.nio.file.Files.writeString(cfg, "check = maybe\n");
        assertBadInput(run("--config", cfg.toString()), "key 'check': 'maybe' is not true or false");
    }

    @Test
    void progressOnANonTerminal_isPlainLines_neverRepaints() {
        // The test's stderr is no terminal. --progress used to write "\r\033[K" repaints into it.
        assertThat(SimulatorCommand.stderrIsTerminal()).as("surefire's stderr").isFalse();
        CommandRun r = run("--threads", "1", "--duration", "3500ms", "--progress");
        assertThat(r.code).as(r.err).isZero();
        assertThat(r.err).doesNotContain("\033[").doesNotContain("\r");
        assertThat(r.err).contains("progress: ");
    }

    @Test
    void ctrlC_stopsTheRun_printsThePartialReport_writesTheJson_andExits130() throws Exception {
        // It used to exit 130 at once, with no report and no JSON.
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isExecutable(Path.of("/bin/kill"))
                || java.nio.file.Files.isExecutable(Path.of("/usr/bin/kill")), "needs kill(1)");
        Path json = tmp.resolve("interrupted.json");
        Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), SimulatorCommand.class.getName(), "--duration", "60s",
                "--threads", "1", "--progress", "--json", json.toString()).start();
        String out;
        try (java.io.BufferedReader stderr = new java.io.BufferedReader(
                new java.io.InputStreamReader(child.getErrorStream(), StandardCharsets.UTF_8))) {
            String line = stderr.readLine(); // the first plain progress line: the run (and its handler) is on
            assertThat(line).as("first stderr line").startsWith("progress: ");
            new ProcessBuilder("kill", "-INT", Long.toString(child.pid())).start().waitFor();
            out = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8); // until it exits
            assertThat(child.waitFor(50, java.util.concurrent.TimeUnit.SECONDS)).as("exited after Ctrl-C").isTrue();
        } finally {
            child.destroyForcibly();
        }
        assertThat(child.exitValue()).as(out).isEqualTo(130);
        assertThat(out).contains("RESULT: INTERRUPTED").contains("Checker ");
        com.fasterxml.jackson.databind.JsonNode root = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(json.toFile());
        assertThat(root.path("interrupted").asBoolean(false)).isTrue();
        assertThat(root.path("exitCode").asInt(-1)).isEqualTo(130);
    }

    @Test
    void shortOptions_andQuiet_printOnlyTheResultLine() {
        CommandRun r = run("-t", "1", "-s", "7", "--events", "2000", "-q");
        assertThat(r.code).as(r.err).isZero();
        assertThat(r.out.strip()).isEqualTo("RESULT: PASS (no violation)");
        CommandRun full = run("--threads", "1", "--seed", "7", "--events", "2000");
        assertThat(full.out).startsWith("MMU notifier simulator: seed 7, 1 worker thread,")
                .endsWith("RESULT: PASS (no violation)" + System.lineSeparator());
        assertBadInput(run("-d", "5s", "--events", "10"), "both bound the run");
    }

    @Test
    void list_namesEveryDriverEventInjectionAndKernelOrder_andRunsNothing() {
        CommandRun r = run("--list");
        assertThat(r.code).as(r.err).isZero();
        for (SimConfig.Driver d : SimConfig.Driver.values()) {
            assertThat(r.out).contains("  " + d + " ");
        }
        for (Op e : Op.events()) {
            assertThat(r.out).contains("  " + e.weightKey().substring(Op.WEIGHT_PREFIX.length()) + " ");
        }
        for (org.mmunotifier.simulator.check.Inject i : org.mmunotifier.simulator.check.Inject.values()) {
            assertThat(r.out).contains("  " + i + " ");
        }
        assertThat(r.out).contains("  5.4 ").contains("  strict ").doesNotContain("RESULT:");
    }

    @Test
    void printConfig_showsEachValueWithItsSource_andRunsNothing() throws Exception {
        Path cfg = tmp.resolve("mine.properties");
        java.nio.file.Files.writeString(cfg, "processes = 9\nthreads = 3\n");
        CommandRun r = run("--config", cfg.toString(), "--threads", "1", "--print-config");
        assertThat(r.code).as(r.err).isZero();
        assertThat(r.out).doesNotContain("RESULT:");
        assertThat(lineOf(r.out, "threads ")).contains("= 1").contains("(command line)");
        assertThat(lineOf(r.out, "processes ")).contains("= 9").contains("(file " + cfg + ")");
        assertThat(lineOf(r.out, "pages ")).contains("(jar defaults)");
        assertThat(lineOf(r.out, "weight-fault ")).contains("(jar defaults)");
    }

    private static String lineOf(String text, String prefix) {
        return text.lines().filter(l -> l.startsWith(prefix)).findFirst().orElse("(no line " + prefix + ")");
    }

    @Test
    void reproductionLine_runsTheSameRunAgain_withOneThreadAndEvents() throws Exception {
        Path cfg = tmp.resolve("odd.properties");
        java.nio.file.Files.writeString(cfg, "processes = 7\nweight-mmap = 900\n");
        CommandRun first = run("--config", cfg.toString(), "-t", "1", "-s", "42", "--events", "3000");
        assertThat(first.code).as(first.err).isZero();
        String line = first.out.lines().filter(l -> l.startsWith("Reproduce ")).findFirst().orElseThrow();
        String command = line.substring("Reproduce".length()).strip();
        assertThat(command).startsWith("java -jar simulator/target/mmu-simulator.jar ").contains("--processes 7")
                .contains("--weight-mmap 900").doesNotContain("--config");
        String[] args = command.substring("java -jar simulator/target/mmu-simulator.jar ".length()).split(" ");
        CommandRun again = run(args);
        assertThat(again.code).as(again.err).isZero();
        assertThat(again.cmd.lastReport.deterministicCounts()).isEqualTo(first.cmd.lastReport.deterministicCounts());
        assertThat(first.out).doesNotContain("the same seed makes the same run only");
        assertThat(run("-t", "2", "-s", "1", "--events", "2000").out).contains("the same seed makes the same run only");
    }

    @Test
    void latencyRowsWithNothingMeasured_showDashes_notZeros() {
        // The iommu driver alone never registers: the register/unregister rows have count 0.
        CommandRun r = run("-t", "1", "-s", "3", "--events", "2000", "--drivers", "iommu", "--unload", "false");
        assertThat(r.code).as(r.err).isZero();
        String register = r.out.lines().filter(l -> l.startsWith("register")).findFirst().orElseThrow();
        assertThat(register).matches("register\\s+0(\\s+-){5}");
    }

    @Test
    void aPassingReport_saysWhatWasVerified_withTheObjectsEachCheckCovered() {
        CommandRun r = run("-t", "1", "-s", "4", "--events", "3000", "--drivers", "gpu,kvm,iommu,accel,dmirror");
        assertThat(r.code).as(r.err).isZero();
        assertThat(r.out).contains("Verified at the end");
        Report rep = r.cmd.lastReport;
        assertThat(rep.verified()).containsKeys("every notifier allocated was freed exactly once",
                "every mm's users and count came back to 0", "every physical frame is free",
                "no simulator thread is left running");
        assertThat(rep.verified().get("every physical frame is free")).isEqualTo(65_536L);
        assertThat(rep.verified().get("every mm's users and count came back to 0")).isPositive();
        assertThat(rep.verified().get("every interval subscription inserted was removed, and none was called after"))
                .as("dmirror's subscriptions").isPositive();
        assertThat(lineOf(r.out, "  every physical frame is free")).endsWith("65,536");
    }

    @Test
    void json_carriesSchemaVersion_toolVersion_time_result_andTheWholeConfiguration() throws Exception {
        Path json = tmp.resolve("full.json");
        CommandRun r = run("-t", "1", "-s", "5", "--events", "2000", "--weight-mmap", "321", "--json", json.toString());
        assertThat(r.code).as(r.err).isZero();
        com.fasterxml.jackson.databind.JsonNode root = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(json.toFile());
        assertThat(root.path("schemaVersion").asInt()).isEqualTo(2);
        assertThat(root.path("toolVersion").asText()).isEqualTo("0.1.0");
        assertThat(java.time.Instant.parse(root.path("finishedAt").asText())).isNotNull();
        assertThat(root.path("result").asText()).isEqualTo("PASS");
        assertThat(root.path("config").path("weights").path("mmap").asInt()).isEqualTo(321);
        assertThat(root.path("config").path("maxHandles").asInt()).isPositive();
        assertThat(root.path("config").path("weights").size()).isEqualTo(Op.events().size());
    }

    @Test
    void help_showsEveryRange_theBareNumberRule_andTheWeightsDefaults() {
        String help = run("--help").out;
        assertThat(help).contains("a bare number is seconds").contains("at most 24h").contains("1 to 256")
                .contains("1 to 4096").contains("16 to 65536");
        String faultWeight = help.lines().filter(l -> l.strip().startsWith("--weight-fault")).findFirst().orElseThrow();
        int at = help.indexOf(faultWeight);
        assertThat(help.substring(at, Math.min(help.length(), at + 400))).contains("(default 4100)");
    }
}
