package org.mmunotifier.benchmarks;

import java.util.concurrent.TimeUnit;
import org.mmunotifier.srcu.Srcu;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Group;
import org.openjdk.jmh.annotations.GroupThreads;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * Grace-period latency: {@code synchronize()} and {@code synchronizeExpedited()} in
 * {@link Mode#SampleTime} (JMH prints p0.50, p0.90, p0.99, p0.999 ... per benchmark; the JSON
 * holds them under {@code primaryMetric.scorePercentiles}).
 * <ul>
 *   <li>{@code idle} / {@code idleExpedited}: one thread, no reader anywhere (target: p50 ≤ 5 µs
 *       for {@code synchronize()}).</li>
 *   <li>{@code readers} / {@code readersExpedited}: a {@code @Group} of one reader thread that
 *       loops over short read sections ({@code readerTokens} of {@link Blackhole#consumeCPU}
 *       inside each) and one thread that synchronizes. The {@code :synchronize} row is the
 *       grace-period latency under load; the {@code :reader} row is the length of one read
 *       section plus the sampling overhead (a grace period waits at least for the longest
 *       pre-existing reader).</li>
 * </ul>
 * Both groups use two threads: on a 2-vCPU machine the reader and the updater each own a core.
 * Every trial gets a fresh domain.
 *
 * <p>Run (about 3 minutes; do not pass {@code -t}, the thread counts are fixed per method):
 * <pre>
 * java -jar benchmarks/target/benchmarks.jar SrcuSynchronizeBenchmark \
 *     -f 1 -wi 3 -i 5 -w 1s -r 1s -rf json -rff results/srcu-synchronize.json
 * </pre>
 * For publishing: {@code -f 3 -wi 5 -i 10 -w 2s -r 2s}. Longer read sections:
 * {@code -p readerTokens=100,1000}.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED") // JDK 22+: the fence-free SRCU reader
public class SrcuSynchronizeBenchmark {

    /** A domain nobody reads: grace periods with no readers. */
    @State(Scope.Benchmark)
    public static class Idle {
        Srcu srcu;
        /** Calls made (one thread at a time): each must have completed a grace period. */
        long calls;

        @Setup(Level.Trial)
        public void setUp() {
            srcu = new Srcu("bench-sync-idle");
            calls = 0;
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            checkGracePeriods(srcu, calls);
        }
    }

    /** The domain shared by the reader and the updater of one group. */
    @State(Scope.Group)
    public static class Busy {
        /** Work inside one read section, in {@link Blackhole#consumeCPU} tokens. */
        @Param({"100"})
        public long readerTokens;

        Srcu srcu;
        /** Calls made by the group's one updater thread. */
        long calls;

        @Setup(Level.Trial)
        public void setUp() {
            srcu = new Srcu("bench-sync-busy");
            calls = 0;
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            checkGracePeriods(srcu, calls);
        }
    }

    /** Sanity: one thread calling synchronize n times must have completed at least n grace periods. */
    static void checkGracePeriods(Srcu srcu, long calls) {
        long gps = srcu.gracePeriodsCompleted();
        srcu.close();
        if (gps < calls) {
            throw new IllegalStateException(calls + " synchronize calls but only " + gps
                    + " grace periods completed");
        }
    }

    @Benchmark
    @Threads(1)
    public long idle(Idle s) {
        s.calls++;
        s.srcu.synchronize();
        return s.srcu.gracePeriodsCompleted();
    }

    @Benchmark
    @Threads(1)
    public long idleExpedited(Idle s) {
        s.calls++;
        s.srcu.synchronizeExpedited();
        return s.srcu.gracePeriodsCompleted();
    }

    // ---- one reader looping over short sections, one updater

    @Benchmark
    @Group("readers")
    @GroupThreads(1)
    public int reader(Busy s) {
        return readSection(s);
    }

    @Benchmark
    @Group("readers")
    @GroupThreads(1)
    public long synchronize(Busy s) {
        s.calls++;
        s.srcu.synchronize();
        return s.srcu.gracePeriodsCompleted();
    }

    @Benchmark
    @Group("readersExpedited")
    @GroupThreads(1)
    public int readerE(Busy s) {
        return readSection(s);
    }

    @Benchmark
    @Group("readersExpedited")
    @GroupThreads(1)
    public long synchronizeExpedited(Busy s) {
        s.calls++;
        s.srcu.synchronizeExpedited();
        return s.srcu.gracePeriodsCompleted();
    }

    private static int readSection(Busy s) {
        Srcu srcu = s.srcu;
        int idx = srcu.readLock();
        try {
            Blackhole.consumeCPU(s.readerTokens);
        } finally {
            srcu.readUnlock(idx);
        }
        return idx;
    }
}
