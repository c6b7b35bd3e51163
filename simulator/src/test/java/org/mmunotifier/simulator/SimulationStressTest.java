package org.mmunotifier.simulator;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The default configuration for 20 s at 2, 4 and 8 worker threads: no violation may appear.
 * Tagged {@code long}: run with {@code mvn -B -ntp -pl simulator test -Plong -Dtest=SimulationStressTest}.
 */
@Tag("long")
class SimulationStressTest {

    @ParameterizedTest(name = "{0} threads")
    @ValueSource(ints = {2, 4, 8})
    void defaultConfiguration_twentySeconds_seesNoViolation(int threads) {
        long seed = System.nanoTime();
        Report r = new Simulation(SimConfig.defaults().withThreads(threads).withSeed(seed).withDuration(20_000)).run(null);
        java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
        r.print(new java.io.PrintStream(b, true));
        assertThat(r.violations()).as("seed %d%n%s", seed, b).isZero();
        assertThat(r.accessChecks()).isPositive();
    }
}
