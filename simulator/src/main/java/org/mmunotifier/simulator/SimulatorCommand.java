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
import java.util.EnumSet;
import java.util.Locale;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import org.mmunotifier.simulator.check.Inject;
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
@Command(name = "mmu-simulator", mixinStandardHelpOptions = true, version = "mmu-simulator 0.1.0",
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

    @Spec
    CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE", description = "Properties file overriding the shipped defaults (same keys as the long options).")
    Path config;

    @Option(names = "--duration", paramLabel = "TIME", description = "How long the workers run: 500ms, 20s, 2m or PT20S (default ${DEFAULT-VALUE}).")
    String duration;

    @Option(names = "--events", description = "Events per worker; 0 = bounded by --duration (default ${DEFAULT-VALUE}).")
    long events;

    @Option(names = "--threads", description = "Worker threads (default ${DEFAULT-VALUE}).")
    int threads;

    @Option(names = "--seed", description = "Random seed, or 'random' (default ${DEFAULT-VALUE}).")
    String seed;

    @Option(names = "--processes", description = "Target number of live processes (default ${DEFAULT-VALUE}).")
    int processes;

    @Option(names = "--pages", description = "Virtual pages per address space (default ${DEFAULT-VALUE}).")
    int pages;

    @Option(names = "--frames", description = "Physical frames (default ${DEFAULT-VALUE}).")
    int frames;

    @Option(names = "--max-map-pages", description = "Largest mmap in pages (default ${DEFAULT-VALUE}).")
    int maxMapPages;

    @Option(names = "--max-handles", description = "Most device files open per process (default ${DEFAULT-VALUE}).")
    int maxHandles;

    @Option(names = "--drivers", paramLabel = "LIST", description = "Drivers that take part: gpu,kvm,iommu,accel (default ${DEFAULT-VALUE}).")
    String drivers;

    @Option(names = "--unload", arity = "1", paramLabel = "true|false", description = "Unload the accel driver half-way (default ${DEFAULT-VALUE}).")
    boolean unload;

    @Option(names = "--check", arity = "1", paramLabel = "true|false", description = "Validate every secondary access (default ${DEFAULT-VALUE}).")
    boolean check;

    @Option(names = "--inject", paramLabel = "BUG", description = "none, skip-invalidation, free-without-grace-period or unload-without-put (default ${DEFAULT-VALUE}).")
    String inject;

    @Option(names = "--weight-fault", paramLabel = "N", description = "Relative frequency of CPU page faults.")
    int weightFault;
    @Option(names = "--weight-access", paramLabel = "N", description = "Relative frequency of secondary accesses.")
    int weightAccess;
    @Option(names = "--weight-mmap", paramLabel = "N", description = "Relative frequency of mmap.")
    int weightMmap;
    @Option(names = "--weight-munmap", paramLabel = "N", description = "Relative frequency of munmap.")
    int weightMunmap;
    @Option(names = "--weight-mprotect", paramLabel = "N", description = "Relative frequency of mprotect.")
    int weightMprotect;
    @Option(names = "--weight-migrate", paramLabel = "N", description = "Relative frequency of page migration.")
    int weightMigrate;
    @Option(names = "--weight-reclaim", paramLabel = "N", description = "Relative frequency of inline reclaim (one thread only).")
    int weightReclaim;
    @Option(names = "--weight-fork", paramLabel = "N", description = "Relative frequency of fork.")
    int weightFork;
    @Option(names = "--weight-exit", paramLabel = "N", description = "Relative frequency of exit.")
    int weightExit;
    @Option(names = "--weight-attach", paramLabel = "N", description = "Relative frequency of device attach (get/register).")
    int weightAttach;
    @Option(names = "--weight-detach", paramLabel = "N", description = "Relative frequency of device detach (put/unregister).")
    int weightDetach;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write the report as JSON to FILE.")
    Path json;

    @Option(names = "--progress", description = "Show the progress line on stderr even without a terminal.")
    boolean progress;

    private final PrintStream out;
    private final PrintStream err;
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
        CommandLine cl = new CommandLine(cmd);
        cl.setOut(new java.io.PrintWriter(out, true));
        cl.setErr(new java.io.PrintWriter(err, true));
        Properties props;
        try {
            props = loadDefaults(cl.getCommandSpec(), configArgument(args));
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
     * Loads the shipped defaults, then overlays the user's file.
     *
     * @throws BadInput if the user's file cannot be read, does not parse, or has an unknown key
     */
    static Properties loadDefaults(CommandSpec spec, String userFile) throws BadInput {
        Properties props = new Properties();
        try (InputStream in = SimulatorCommand.class.getResourceAsStream(DEFAULTS)) {
            if (in == null) {
                throw new IllegalStateException(DEFAULTS + " is missing from the jar");
            }
            props.load(new java.io.InputStreamReader(in, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the shipped " + DEFAULTS, e);
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
        Set<String> known = new TreeSet<>();
        for (OptionSpec o : spec.options()) {
            known.add(o.longestName().replaceFirst("^-+", ""));
        }
        known.remove("config");
        known.remove("help");
        known.remove("version");
        for (String key : user.stringPropertyNames()) {
            if (!known.contains(key)) {
                throw new BadInput("configuration file " + userFile + " has an unknown key '" + key + "'");
            }
            props.setProperty(key, user.getProperty(key).strip());
        }
        return props;
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
        return new SimConfig(parseDurationMillis(duration), events, threads, seedValue, processes, pages, frames,
                maxMapPages, maxHandles, ds, Inject.parse(inject.strip()), unload, check,
                new SimConfig.Weights(weightFault, weightAccess, weightMmap, weightMunmap, weightMprotect,
                        weightMigrate, weightReclaim, weightFork, weightExit, weightAttach, weightDetach));
    }

    @Override
    public Integer call() throws IOException {
        SimConfig cfg;
        try {
            cfg = toConfig();
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        if (json != null) {
            Path parent = json.toAbsolutePath().getParent();
            if (parent != null && !Files.isDirectory(parent)) {
                throw new ParameterException(spec.commandLine(), "cannot write --json " + json + ": directory " + parent + " does not exist");
            }
        }
        boolean showProgress = progress || System.console() != null;
        Report report = new Simulation(cfg).run(showProgress ? err : null);
        lastReport = report;
        report.print(out);
        if (json != null) {
            ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
            try {
                mapper.writeValue(json.toFile(), report.toJsonTree());
            } catch (IOException e) {
                err.println("mmu-simulator: cannot write --json " + json + ": " + e.getMessage());
                // A run that found violations still says so (1); otherwise the output failed (2).
                return report.exitCode() != 0 ? report.exitCode() : EXIT_BAD_INPUT;
            }
        }
        out.flush();
        return report.exitCode();
    }
}
