package org.mmunotifier.simulator;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import org.mmunotifier.simulator.check.Inject;
import org.mmunotifier.simulator.kernel.KernelOrder;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The simulator's command line: {@code java -jar mmu-simulator.jar [options]}.
 *
 * <p>Defaults come from {@code simulator-defaults.properties} in the jar, then from the file
 * given with {@code --config}, then from the options. Exit codes: 0 no violation, 1 violations,
 * 2 bad input (one line on stderr, no stack trace), 3 internal failure.
 */
@Command(name = "mmu-simulator", version = "mmu-simulator " + Report.TOOL_VERSION,
        sortOptions = false,
        description = {"Simulates processes whose address spaces are mirrored by secondary MMUs (GPU mirror, "
                + "KVM shadow table, IOMMU TLB, an accelerator unloaded mid-run), all driven through the MMU "
                + "notifier API, and validates every secondary access against the primary page tables.",
            "Defaults: simulator-defaults.properties in the jar; override with --config FILE or options."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:no violation", "1:violations found", "2:bad input", "3:internal failure"})
public final class SimulatorCommand implements Callable<Integer> {
    static final String DEFAULTS = "simulator-defaults.properties";
    static final int EXIT_BAD_INPUT = 2;
    static final int EXIT_INTERNAL = 3;
    /** The help order of the first event weight; the others follow in {@link Op}'s order. */
    private static final int WEIGHT_ORDER = 100;
    /** The help order of the output options, after the weights. */
    private static final int OUTPUT_ORDER = 200;
    /** Keys a configuration file may set that the shipped defaults leave out: outputs, not settings. */
    static final Set<String> OUTPUT_KEYS = Set.of("json", "html", "hgrm", "svg", "progress", "quiet", "list",
            "print-config");

    @Spec
    CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE", description = "Properties file overriding the shipped defaults (same keys as the long options).")
    Path config;

    @Option(names = {"-d", "--duration"}, paramLabel = "TIME", description = "How long the workers run: 500ms, 20s, 2m, 1h or PT20S; a bare number is seconds; at most 24h (default ${DEFAULT-VALUE}).")
    String duration;

    @Option(names = "--events", description = "Primary events per worker, 0 or more; 0 = bounded by --duration; not with --duration (default ${DEFAULT-VALUE}).")
    long events;

    @Option(names = {"-t", "--threads"}, description = "Worker threads, 1 to 256 (default ${DEFAULT-VALUE}).")
    int threads;

    @Option(names = {"-s", "--seed"}, description = "Random seed, or 'random' (default ${DEFAULT-VALUE}).")
    String seed;

    @Option(names = "--processes", description = "Target number of live processes, 1 to 4096 (default ${DEFAULT-VALUE}).")
    int processes;

    @Option(names = "--pages", description = "Virtual pages per address space, 16 to 65536 (default ${DEFAULT-VALUE}).")
    int pages;

    @Option(names = "--frames", description = "Physical frames, 1 to 67108864 (default ${DEFAULT-VALUE}).")
    int frames;

    @Option(names = "--max-map-pages", description = "Largest mmap in pages, 1 to --pages (default ${DEFAULT-VALUE}).")
    int maxMapPages;

    @Option(names = "--max-handles", description = "Most device files open per process, 1 or more (default ${DEFAULT-VALUE}).")
    int maxHandles;

    @Option(names = "--drivers", paramLabel = "LIST", description = "Drivers that take part: gpu,kvm,iommu,accel,dmirror,userptr (default ${DEFAULT-VALUE}).")
    String drivers;

    @Option(names = "--unload", arity = "1", paramLabel = "true|false", description = "Unload the accel driver half-way (default ${DEFAULT-VALUE}).")
    boolean unload;

    @Option(names = "--check", arity = "1", paramLabel = "true|false", description = "Validate every secondary access (default ${DEFAULT-VALUE}).")
    boolean check;

    @Option(names = "--inject", paramLabel = "BUG", description = "none, skip-invalidation, free-without-grace-period, unload-without-put, iommu-ignores-invalidate-range, kvm-retry-check-before-lock, oom-reaper-blocking or ksm-without-bracket (default ${DEFAULT-VALUE}).")
    String inject;

    @Option(names = "--kernel-order", paramLabel = "ORDER", description = "The simulated kernel's order of notifier calls and TLB flushes: 5.4 (Linux 5.4's) or strict (invalidateRange under the page-table lock after every change; no stale window) (default ${DEFAULT-VALUE}).")
    String kernelOrder;

    // The event weights (--weight-fault, ...) have no field here: commandLine() adds one option for
    // each event of Op. --help lists them after --inject (the options above have no order, so they
    // come first) and before --json.

    @Option(names = "--json", paramLabel = "FILE", order = OUTPUT_ORDER, description = "Also write the report as JSON to FILE, checked writable before the run; - for stdout (the text report then goes to stderr).")
    Path json;

    @Option(names = "--html", paramLabel = "FILE", order = OUTPUT_ORDER, description = "Also write the report as one self-contained HTML page (tables, latency percentile plots, invalidations by event, throughput and violations over time), checked writable before the run.")
    Path html;

    @Option(names = "--hgrm", paramLabel = "DIR", order = OUTPUT_ORDER, description = "Also write each latency row with a count as an HdrHistogram percentile distribution, DIR/KEY.hgrm (KEY: the row's JSON key; values in microseconds); DIR is created if missing and checked writable before the run.")
    Path hgrm;

    @Option(names = "--svg", paramLabel = "DIR", order = OUTPUT_ORDER, description = "Also write each chart of the HTML page as a standalone SVG file, DIR/NAME.svg; DIR is created if missing and checked writable before the run.")
    Path svg;

    @Option(names = "--print-config", order = OUTPUT_ORDER + 1, description = "Print the effective configuration, each value with where it came from (the jar's defaults, the --config file or the command line), and exit.")
    boolean printConfig;

    @Option(names = "--list", order = OUTPUT_ORDER + 1, description = "List the drivers, events, fault injections and kernel orders, one line each, and exit.")
    boolean list;

    @Option(names = {"-q", "--quiet"}, order = OUTPUT_ORDER + 1, description = "Print only the result line (errors still go to stderr).")
    boolean quiet;

    @Option(names = "--progress", order = OUTPUT_ORDER + 1, description = "Report progress on stderr even when it is not a terminal: a plain line every 2 s (on a terminal the line is repainted, without this option).")
    boolean progress;

    // picocli's standard help options, declared here to be listed last.
    @Option(names = {"-h", "--help"}, usageHelp = true, order = OUTPUT_ORDER + 2, description = "Show this help message and exit.")
    boolean helpRequested;

    @Option(names = {"-V", "--version"}, versionHelp = true, order = OUTPUT_ORDER + 3, description = "Print version information and exit.")
    boolean versionRequested;

    private final PrintStream out;
    private final PrintStream err;
    /** The --config file, or null; and the keys it sets (for --print-config's sources). */
    private String userFile;
    private Set<String> userKeys = Set.of();
    /** The last report, for tests. */
    Report lastReport;

    SimulatorCommand(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }

    public static void main(String[] args) {
        int code;
        try {
            code = run(args, System.out, System.err, null);
        } catch (Throwable t) { // e.g. OutOfMemoryError for a configuration too big for the heap
            System.err.println("mmu-simulator: internal failure: " + t);
            code = EXIT_INTERNAL;
        }
        System.exit(code);
    }

    /**
     * Parses, runs and reports.
     *
     * @param holder if not null, receives the command (tests read {@link #lastReport})
     * @return the exit code
     */
    static int run(String[] args, PrintStream out, PrintStream err, SimulatorCommand[] holder) {
        SimulatorCommand cmd = new SimulatorCommand(out, err);
        if (holder != null) {
            holder[0] = cmd;
        }
        CommandLine cl = commandLine(cmd);
        cl.setOut(new java.io.PrintWriter(out, true));
        cl.setErr(new java.io.PrintWriter(err, true));
        Properties props;
        try {
            String userFile = configArgument(args);
            Set<String> fromFile = new TreeSet<>();
            props = loadDefaults(cl.getCommandSpec(), userFile, fromFile);
            cmd.userFile = userFile;
            cmd.userKeys = fromFile;
        } catch (BadInput e) {
            err.println("mmu-simulator: " + e.getMessage());
            return EXIT_BAD_INPUT;
        }
        cl.setDefaultValueProvider(new CommandLine.PropertiesDefaultProvider(props));
        cl.setParameterExceptionHandler((ex, a) -> {
            err.println("mmu-simulator: " + firstLine(ex.getMessage()) + " (try --help)");
            return EXIT_BAD_INPUT;
        });
        cl.setExecutionExceptionHandler((ex, c, parsed) -> {
            err.println("mmu-simulator: internal failure: " + ex);
            ex.printStackTrace(err);
            return EXIT_INTERNAL;
        });
        return cl.execute(args);
    }

    /**
     * The command line of {@code cmd}: its annotated options, plus one {@code --weight-KEY} option
     * for each event of {@link Op}, which {@link #toConfig()} reads back.
     */
    static CommandLine commandLine(SimulatorCommand cmd) {
        CommandLine cl = new CommandLine(cmd);
        CommandSpec spec = cl.getCommandSpec();
        int order = WEIGHT_ORDER;
        for (Op event : Op.events()) {
            spec.addOption(OptionSpec.builder(event.weightOption()).paramLabel("N").type(int.class)
                    .description(event.description() + " From 0 to " + SimConfig.MAX_WEIGHT + " (default ${DEFAULT-VALUE}).")
                    .order(order++)
                    .build());
        }
        return cl;
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "invalid input";
        }
        int nl = s.indexOf('\n');
        return (nl < 0 ? s : s.substring(0, nl)).strip();
    }

    /** Bad input found before picocli parses. */
    static final class BadInput extends Exception {
        private static final long serialVersionUID = 1L;

        BadInput(String message) {
            super(message);
        }
    }

    /** @return the value of --config in {@code args}, or null */
    static String configArgument(String[] args) throws BadInput {
        String found = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--")) {
                break;
            }
            if (a.equals("--config")) {
                if (i + 1 >= args.length) {
                    throw new BadInput("option '--config' needs a FILE");
                }
                found = args[++i];
            } else if (a.startsWith("--config=")) {
                found = a.substring("--config=".length());
            }
        }
        return found;
    }

    /**
     * Loads the shipped defaults, checks them against the options ({@link #defaultsDisagreements}),
     * then overlays the user's file.
     *
     * @param spec the command built by {@link #commandLine}, with its event weights
     * @param userFile the --config file, or null
     * @param fromFile receives the keys the user's file sets (for --print-config's sources)
     * @throws BadInput if the user's file cannot be read, does not parse, or has an unknown key
     * @throws IllegalStateException if the shipped file misses a key or has an unknown one (a
     *     defaults file out of step with {@link Op}: an internal failure)
     */
    static Properties loadDefaults(CommandSpec spec, String userFile, Set<String> fromFile) throws BadInput {
        Properties props = shippedDefaults();
        List<String> wrong = defaultsDisagreements(props, spec);
        if (!wrong.isEmpty()) {
            throw new IllegalStateException("the shipped " + DEFAULTS + " does not match the options: "
                    + String.join("; ", wrong));
        }
        if (userFile == null) {
            return props;
        }
        Path path = Path.of(userFile);
        Properties user = new Properties();
        try (Reader r = Files.newBufferedReader(path, StandardCharsets.UTF_8)) {
            user.load(r);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new BadInput("configuration file " + userFile + " does not exist");
        } catch (java.nio.charset.MalformedInputException e) {
            throw new BadInput("configuration file " + userFile + " is not UTF-8 text");
        } catch (IOException e) {
            throw new BadInput("cannot read configuration file " + userFile + ": " + e.getMessage());
        } catch (IllegalArgumentException e) {
            throw new BadInput("configuration file " + userFile + " is malformed: " + e.getMessage());
        }
        Set<String> known = configurableKeys(spec);
        for (String key : user.stringPropertyNames()) {
            if (!known.contains(key)) {
                throw new BadInput("configuration file " + userFile + lineOf(path, key) + " has an unknown key '" + key
                        + "'");
            }
            String value = user.getProperty(key).strip();
            String problem = valueProblem(spec.findOption("--" + key), value);
            if (problem != null) {
                throw new BadInput("configuration file " + userFile + lineOf(path, key) + ", key '" + key + "': "
                        + problem);
            }
            props.setProperty(key, value);
            fromFile.add(key);
        }
        return props;
    }

    /**
     * Checks one value of a configuration file as its option would, so that a bad value is
     * reported with the file, the line and the key rather than as a command-line option.
     *
     * @return what is wrong with {@code value}, or null
     */
    private static String valueProblem(OptionSpec option, String value) {
        if (value.contains("#")) {
            return "'" + value + "' holds a '#': a properties file has no comments after a value (the rest of "
                    + "the line is the value); put the comment on a line of its own";
        }
        Class<?> type = option.type();
        try {
            if (type == int.class || type == Integer.class) {
                Integer.parseInt(value);
            } else if (type == long.class || type == Long.class) {
                Long.parseLong(value);
            } else if (type == boolean.class || type == Boolean.class) {
                if (!value.equals("true") && !value.equals("false")) {
                    return "'" + value + "' is not true or false";
                }
            } else if (option.longestName().equals("--duration")) {
                parseDurationMillis(value);
            } else if (option.longestName().equals("--inject")) {
                Inject.parse(value);
            } else if (option.longestName().equals("--kernel-order")) {
                KernelOrder.parse(value);
            } else if (option.longestName().equals("--drivers")) {
                for (String d : value.split(",")) {
                    if (!d.isBlank()) {
                        SimConfig.Driver.parse(d);
                    }
                }
            } else if (option.longestName().equals("--seed") && !value.equals("random")) {
                Long.parseLong(value);
            }
        } catch (NumberFormatException e) {
            return "'" + value + "' is not a whole number";
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
        return null;
    }

    /** @return " line N" for the first line of {@code path} that sets {@code key}, or "" */
    private static String lineOf(Path path, String key) {
        try {
            List<String> lines = Files.readAllLines(path, StandardCharsets.UTF_8);
            java.util.regex.Pattern p = java.util.regex.Pattern.compile("\\s*" + java.util.regex.Pattern.quote(key)
                    + "\\s*[=:\\s].*|\\s*" + java.util.regex.Pattern.quote(key) + "\\s*");
            for (int i = 0; i < lines.size(); i++) {
                if (p.matcher(lines.get(i)).matches()) {
                    return " line " + (i + 1);
                }
            }
        } catch (IOException e) {
            // the file was read a moment ago; without the line the message still names file and key
        }
        return "";
    }

    /** @return the defaults file shipped in the jar, as it is */
    static Properties shippedDefaults() {
        Properties props = new Properties();
        try (InputStream in = SimulatorCommand.class.getResourceAsStream(DEFAULTS)) {
            if (in == null) {
                throw new IllegalStateException(DEFAULTS + " is missing from the jar");
            }
            props.load(new java.io.InputStreamReader(in, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the shipped " + DEFAULTS, e);
        }
        return props;
    }

    /** @return the keys a configuration file may set: every long option but --config, --help and --version */
    static Set<String> configurableKeys(CommandSpec spec) {
        Set<String> known = new TreeSet<>();
        for (OptionSpec o : spec.options()) {
            known.add(o.longestName().replaceFirst("^-+", ""));
        }
        known.remove("config");
        known.remove("help");
        known.remove("version");
        return known;
    }

    /**
     * Compares the shipped defaults with the options, and so with {@link Op}'s events: the file
     * must give a default for every configurable option but the outputs ({@link #OUTPUT_KEYS}),
     * one {@code weight-KEY} for each event among them, and have no other key.
     *
     * @return one line per missing or unknown key; empty when they agree
     */
    static List<String> defaultsDisagreements(Properties shipped, CommandSpec spec) {
        Set<String> expected = configurableKeys(spec);
        expected.removeAll(OUTPUT_KEYS);
        List<String> wrong = new ArrayList<>();
        for (String key : expected) {
            if (!shipped.containsKey(key)) {
                wrong.add("no default for '" + key + "'");
            }
        }
        for (String key : new TreeSet<>(shipped.stringPropertyNames())) {
            if (!expected.contains(key)) {
                wrong.add("unknown key '" + key + "'");
            }
        }
        return wrong;
    }

    /** Parses 500ms, 20s, 2m, 1h, a plain number of seconds, or ISO-8601. */
    static long parseDurationMillis(String s) {
        String t = s.strip().toLowerCase(Locale.ROOT);
        try {
            if (t.startsWith("pt")) {
                return Duration.parse(t.toUpperCase(Locale.ROOT)).toMillis();
            }
            if (t.endsWith("ms")) {
                return Long.parseLong(t.substring(0, t.length() - 2).strip());
            }
            long unit = 1000;
            if (t.endsWith("s")) {
                t = t.substring(0, t.length() - 1);
            } else if (t.endsWith("m")) {
                unit = 60_000;
                t = t.substring(0, t.length() - 1);
            } else if (t.endsWith("h")) {
                unit = 3_600_000;
                t = t.substring(0, t.length() - 1);
            }
            return Math.round(Double.parseDouble(t.strip()) * unit);
        } catch (NumberFormatException | DateTimeParseException e) {
            throw new IllegalArgumentException("duration '" + s + "' is not a duration (examples: 500ms, 20s, 2m, PT20S)");
        }
    }

    /**
     * Ctrl-C: the first SIGINT stops the run early (the report, its checks and the JSON still
     * come, and the exit status is 130); a second one exits at once. Uses {@code sun.misc.Signal}
     * (module {@code jdk.unsupported}), the JDK's only way to handle a signal without exiting;
     * where it is missing, Ctrl-C keeps the JVM's default (exit at once).
     *
     * @return what restores the previous handler
     */
    private static Runnable onSigint(Simulation simulation) {
        try {
            sun.misc.Signal sigint = new sun.misc.Signal("INT");
            java.util.concurrent.atomic.AtomicInteger count = new java.util.concurrent.atomic.AtomicInteger();
            sun.misc.SignalHandler previous = sun.misc.Signal.handle(sigint, sig -> {
                if (count.incrementAndGet() == 1) {
                    simulation.interrupt();
                } else {
                    Runtime.getRuntime().halt(Report.EXIT_INTERRUPTED);
                }
            });
            return () -> sun.misc.Signal.handle(sigint, previous);
        } catch (IllegalArgumentException | LinkageError e) { // no such signal, or no jdk.unsupported
            return () -> { };
        }
    }

    /** {@code --print-config}: every configurable value, with its source. */
    private void printConfig(PrintStream o) {
        CommandLine.ParseResult parsed = spec.commandLine().getParseResult();
        Set<String> keys = new TreeSet<>(configurableKeys(spec));
        keys.removeAll(OUTPUT_KEYS);
        keys.remove("print-config");
        for (String key : keys) {
            OptionSpec option = spec.findOption("--" + key);
            String source = parsed != null && parsed.hasMatchedOption(option) ? "command line"
                    : userKeys.contains(key) ? "file " + userFile : "jar defaults";
            o.printf("%-24s = %-24s (%s)%n", key, String.valueOf((Object) option.getValue()), source);
        }
    }

    /** {@code --list}: every driver, event, injection and kernel order, one line each. */
    static void printList(PrintStream out) {
        out.println("Drivers (--drivers):");
        for (SimConfig.Driver d : SimConfig.Driver.values()) {
            out.printf("  %-32s %s%n", d.cliName, d.description);
        }
        out.println("Events (--weight-KEY N):");
        for (Op e : Op.events()) {
            out.printf("  %-32s %s%n", e.weightKey().substring(Op.WEIGHT_PREFIX.length()), e.description());
        }
        out.println("Fault injections (--inject):");
        for (Inject i : Inject.values()) {
            out.printf("  %-32s %s%n", i, i.description());
        }
        out.println("Kernel orders (--kernel-order):");
        for (KernelOrder o : KernelOrder.values()) {
            out.printf("  %-32s %s%n", o, o.description());
        }
    }

    /**
     * Whether this process's stderr is a terminal. On Linux, file descriptor 2 is read through
     * {@code /proc/self/fd/2}; elsewhere {@code System.console()} (stdin and stdout) stands in.
     */
    static boolean stderrIsTerminal() {
        Path fd2 = Path.of("/proc/self/fd/2");
        try {
            String target = Files.readSymbolicLink(fd2).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return System.console() != null;
        }
    }

    /**
     * Refuses an output file that cannot be written, before the run, without writing anything: a
     * directory, a path under a file or a missing directory. {@link #probeFile} then tries a write.
     *
     * @param option the option's name, for the message
     */
    private void checkFilePath(Path path, String option) {
        String prefix = "cannot write " + option + " " + path + ": ";
        if (Files.isDirectory(path)) {
            throw new ParameterException(spec.commandLine(), prefix + "it is a directory");
        }
        Path parent = path.toAbsolutePath().getParent();
        for (Path p = parent; p != null; p = p.getParent()) {
            if (Files.exists(p) && !Files.isDirectory(p)) {
                throw new ParameterException(spec.commandLine(), prefix + p + " is a file, not a directory");
            }
        }
        if (parent != null && !Files.isDirectory(parent)) {
            throw new ParameterException(spec.commandLine(), prefix + "directory " + parent + " does not exist");
        }
    }

    /**
     * Tries a write to an output file before the run (a read-only file, a full device such as
     * {@code /dev/full} refuse it). Leaves an empty line in the file, which the report replaces.
     */
    private void probeFile(Path path, String option) {
        try {
            Files.writeString(path, System.lineSeparator());
        } catch (IOException | SecurityException e) {
            throw new ParameterException(spec.commandLine(), "cannot write " + option + " " + path + ": " + e.getMessage());
        }
    }

    /**
     * Refuses an output directory that cannot be made or written, before the run, without making
     * anything: a path that is a file, or whose nearest existing ancestor is a file or not
     * writable. {@link #makeDirectory} then makes it.
     */
    private void checkDirectoryPath(Path dir, String option) {
        String prefix = "cannot write " + option + " " + dir + ": ";
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new ParameterException(spec.commandLine(), prefix + "it is a file, not a directory");
        }
        Path existing = dir.toAbsolutePath();
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        if (existing != null && !Files.isDirectory(existing)) {
            throw new ParameterException(spec.commandLine(), prefix + existing + " is a file, not a directory");
        }
        if (existing != null && !Files.isWritable(existing)) {
            throw new ParameterException(spec.commandLine(), prefix + existing + " is not writable");
        }
    }

    /** Makes an output directory (and its parents) and tries a write in it, before the run. */
    private void makeDirectory(Path dir, String option) {
        try {
            Files.createDirectories(dir);
            Files.delete(Files.createTempFile(dir, ".mmu-simulator-probe", ".tmp"));
        } catch (IOException | SecurityException e) {
            throw new ParameterException(spec.commandLine(), "cannot write " + option + " " + dir + ": " + e.getMessage());
        }
    }

    /** Builds the validated configuration from the parsed options. */
    SimConfig toConfig() {
        long seedValue;
        if (seed == null || seed.strip().equalsIgnoreCase("random")) {
            seedValue = new java.util.SplittableRandom().nextLong() & 0x7fff_ffff_ffffL;
        } else {
            try {
                seedValue = Long.parseLong(seed.strip());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("seed '" + seed + "' is neither a number nor 'random'");
            }
        }
        Set<SimConfig.Driver> ds = EnumSet.noneOf(SimConfig.Driver.class);
        for (String d : drivers.split(",")) {
            if (!d.isBlank()) {
                ds.add(SimConfig.Driver.parse(d));
            }
        }
        Map<Op, Integer> weights = new EnumMap<>(Op.class);
        for (Op event : Op.events()) {
            OptionSpec option = spec.findOption(event.weightOption());
            if (option == null || option.getValue() == null) {
                throw new IllegalStateException("no value for " + event.weightOption()
                        + ": build the command line with commandLine()");
            }
            weights.put(event, option.getValue());
        }
        return new SimConfig(parseDurationMillis(duration), events, threads, seedValue, processes, pages, frames,
                maxMapPages, maxHandles, ds, Inject.parse(inject.strip()), unload, check,
                KernelOrder.parse(kernelOrder), new SimConfig.Weights(weights));
    }

    @Override
    public Integer call() throws IOException {
        if (list) {
            printList(out);
            return 0;
        }
        SimConfig cfg;
        try {
            cfg = toConfig();
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        if (printConfig) {
            printConfig(out);
            return 0;
        }
        CommandLine.ParseResult parsed = spec.commandLine().getParseResult();
        if (parsed != null && parsed.hasMatchedOption("--duration") && cfg.events() > 0) {
            // --events bounds the run and would silently ignore the duration: refuse the pair.
            throw new ParameterException(spec.commandLine(), "--events " + cfg.events() + " and --duration " + duration
                    + " both bound the run; give one (--events N makes each worker run N primary events, whatever "
                    + "the time)");
        }
        // Before the run: a long run must not lose its outputs at the end. Every path is checked
        // first, and only then written to, so that a bad one changes nothing.
        boolean jsonToStdout = json != null && json.toString().equals("-");
        if (html != null && html.toString().equals("-")) {
            throw new ParameterException(spec.commandLine(), "--html needs a file: only --json writes to stdout (-)");
        }
        if (json != null && !jsonToStdout) {
            checkFilePath(json, "--json");
        }
        if (html != null) {
            checkFilePath(html, "--html");
        }
        if (hgrm != null) {
            checkDirectoryPath(hgrm, "--hgrm");
        }
        if (svg != null) {
            checkDirectoryPath(svg, "--svg");
        }
        if (json != null && !jsonToStdout) {
            probeFile(json, "--json");
        }
        if (html != null) {
            probeFile(html, "--html");
        }
        if (hgrm != null) {
            makeDirectory(hgrm, "--hgrm");
        }
        if (svg != null) {
            makeDirectory(svg, "--svg");
        }
        // The progress goes to stderr, so whether stderr is a terminal decides: repainted in place
        // there by default; elsewhere (a log) only with --progress, as plain lines.
        boolean terminal = stderrIsTerminal();
        boolean showProgress = progress || terminal;
        Simulation simulation = new Simulation(cfg);
        Runnable restoreSigint = onSigint(simulation);
        Report report;
        try {
            report = simulation.run(showProgress ? err : null, terminal);
        } finally {
            restoreSigint.run();
        }
        lastReport = report;
        PrintStream text = jsonToStdout ? err : out; // with --json -, stdout carries the JSON alone
        if (quiet) {
            text.println(report.resultLine());
        } else {
            report.print(text);
        }
        Map<String, Object> tree = report.toJsonTree();
        String option = "--json";
        Path where = json;
        try {
            if (json != null) {
                ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
                if (jsonToStdout) {
                    out.println(mapper.writeValueAsString(tree));
                } else {
                    mapper.writeValue(json.toFile(), tree);
                }
            }
            option = "--html";
            where = html;
            if (html != null) {
                Files.writeString(html, HtmlReport.page(report, tree), StandardCharsets.UTF_8);
            }
            option = "--hgrm";
            where = hgrm;
            if (hgrm != null) {
                writeHistograms(report, hgrm);
            }
            option = "--svg";
            where = svg;
            if (svg != null) {
                for (Map.Entry<String, String> chart : HtmlReport.standaloneCharts(report).entrySet()) {
                    Files.writeString(svg.resolve(chart.getKey() + ".svg"), chart.getValue(), StandardCharsets.UTF_8);
                }
            }
        } catch (IOException e) {
            err.println("mmu-simulator: cannot write " + option + " " + where + ": " + e.getMessage());
            // A run that found violations still says so (1); otherwise the output failed (2).
            return report.exitCode() != 0 ? report.exitCode() : EXIT_BAD_INPUT;
        }
        out.flush();
        return report.exitCode();
    }

    /** The unit of the {@code .hgrm} files: the histograms hold nanoseconds, the files microseconds. */
    static final double HGRM_NANOS_PER_UNIT = 1000.0;

    /**
     * {@code --hgrm}: each latency row with a count, as {@code DIR/KEY.hgrm} in HdrHistogram's
     * percentile-distribution format, in microseconds. A row with no count has no file.
     */
    static void writeHistograms(Report report, Path dir) throws IOException {
        for (Report.LatencyRow row : report.latencyRows()) {
            if (row.histogram().getTotalCount() == 0) {
                continue;
            }
            Path file = dir.resolve(row.key() + ".hgrm");
            try (PrintStream ps = new PrintStream(Files.newOutputStream(file), false, StandardCharsets.UTF_8)) {
                row.histogram().outputPercentileDistribution(ps, HGRM_NANOS_PER_UNIT);
                if (ps.checkError()) {
                    throw new IOException("write error on " + file);
                }
            }
        }
    }
}
