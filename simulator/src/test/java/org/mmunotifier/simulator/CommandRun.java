package org.mmunotifier.simulator;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/** Test support: one run of the command line in this JVM, with what it printed and its exit code. */
final class CommandRun {
    final int code;
    final String out;
    final String err;
    /** The command, for its last report; null if the arguments were refused before it ran. */
    final SimulatorCommand cmd;

    private CommandRun(int code, String out, String err, SimulatorCommand cmd) {
        this.code = code;
        this.out = out;
        this.err = err;
        this.cmd = cmd;
    }

    /** Runs {@code SimulatorCommand.run} with {@code args}, capturing stdout and stderr. */
    static CommandRun of(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        SimulatorCommand[] holder = new SimulatorCommand[1];
        int code = SimulatorCommand.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), holder);
        return new CommandRun(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8), holder[0]);
    }
}
