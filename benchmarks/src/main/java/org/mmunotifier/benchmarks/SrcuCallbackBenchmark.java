package org.mmunotifier.benchmarks;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.mmunotifier.srcu.Srcu;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * {@code callSrcu} + {@code barrier} throughput: one invocation queues {@value #BATCH} callbacks
 * (each increments a counter) and then calls {@code barrier()}, so the score, in ops/s with
 * {@code @OperationsPerInvocation(BATCH)}, is <b>callbacks per second</b> end to end: enqueue,
 * the grace period(s) they wait for, and running them (target: ≥ 10 M callbacks/s).
 *
 * <p>{@code producers1} runs one producing thread, {@code producers2} two producers on one
 * shared domain (do not pass {@code -t}). Secondary results ({@code @AuxCounters}, totals per
 * iteration, in the JSON under {@code secondaryMetrics}): {@code gracePeriods} and
 * {@code batches} (callback batches handed to the callback thread) observed around each
 * invocation. With one producer, callbacks per grace period = score x iteration time /
 * gracePeriods; with two, each producer counts the grace periods it saw, so shared ones count
 * twice. Each trial's tear-down therefore prints the exact ratios ({@code callbacks/GP},
 * {@code callbacks/batch}) from the domain's own counters over the whole trial (warm-up
 * included) and checks that every queued callback ran.
 *
 * <p>Run (about 2 minutes):
 * <pre>
 * java -jar benchmarks/target/benchmarks.jar SrcuCallbackBenchmark \
 *     -f 1 -wi 3 -i 5 -w 1s -r 1s -prof gc -rf json -rff results/srcu-callbacks.json
 * </pre>
 * For publishing: {@code -f 3 -wi 5 -i 10 -w 2s -r 2s}. {@code gc.alloc.rate.norm} here is the
 * per-callback queue node (the callback {@code Runnable} itself is preallocated).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED") // JDK 22+: the fence-free SRCU reader
public class SrcuCallbackBenchmark {

    /** Callbacks queued per invocation, before the {@code barrier()}. */
    public static final int BATCH = 10_000;

    /** The domain and the counting callback, shared by all producers of a trial. */
    @State(Scope.Benchmark)
    public static class Domain {
        Srcu srcu;
        /** Written only by the callback thread (one batch at a time); read after barrier(). */
        long invoked;
        final Runnable increment = () -> invoked++;
        long gp0;
        long batches0;
        final AtomicLong queuedTotal = new AtomicLong();

        @Setup(Level.Trial)
        public void setUp() {
            srcu = new Srcu("bench-callbacks");
            gp0 = srcu.gracePeriodsCompleted();
            batches0 = srcu.callbackBatches();
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            srcu.barrier();
            long gps = srcu.gracePeriodsCompleted() - gp0;
            long batches = srcu.callbackBatches() - batches0;
            long q = queuedTotal.get();
            long ran = invoked;
            srcu.close();
            System.out.printf("%n[srcu-callbacks] queued=%d ran=%d gracePeriods=%d batches=%d"
                    + " callbacks/GP=%.1f callbacks/batch=%.1f%n",
                    q, ran, gps, batches,
                    gps == 0 ? Double.NaN : (double) q / gps,
                    batches == 0 ? Double.NaN : (double) q / batches);
            if (ran != q) {
                throw new IllegalStateException("queued " + q + " callbacks but " + ran + " ran");
            }
        }
    }

    /** Grace periods and callback batches seen around this thread's invocations. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.EVENTS)
    public static class Counts {
        public long gracePeriods;
        public long batches;

        @Setup(Level.Iteration)
        public void reset() {
            gracePeriods = 0;
            batches = 0;
        }
    }

    @Benchmark
    @Threads(1)
    @OperationsPerInvocation(BATCH)
    public void producers1(Domain d, Counts c) {
        queueAndBarrier(d, c);
    }

    @Benchmark
    @Threads(2)
    @OperationsPerInvocation(BATCH)
    public void producers2(Domain d, Counts c) {
        queueAndBarrier(d, c);
    }

    private static void queueAndBarrier(Domain d, Counts c) {
        Srcu srcu = d.srcu;
        long gp = srcu.gracePeriodsCompleted();
        long batches = srcu.callbackBatches();
        Runnable r = d.increment;
        for (int i = 0; i < BATCH; i++) {
            srcu.callSrcu(r);
        }
        d.queuedTotal.addAndGet(BATCH);
        srcu.barrier();
        c.gracePeriods += srcu.gracePeriodsCompleted() - gp;
        c.batches += srcu.callbackBatches() - batches;
    }
}
