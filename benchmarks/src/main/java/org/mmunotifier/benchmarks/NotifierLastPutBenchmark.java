package org.mmunotifier.benchmarks;

import java.util.concurrent.TimeUnit;
import org.mmunotifier.mm.MmStruct;
import org.mmunotifier.mm.MmuNotifier;
import org.mmunotifier.mm.MmuNotifiers;
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
 * The whole life of a subscription, amortized: {@code MmuNotifiers.get(ops, mm)} on an mm where
 * the ops has no notifier ({@code allocNotifier}, link: a new copy-on-write array,
 * {@code mmgrab}), then the <b>last</b> {@code MmuNotifiers.put(mn)} (unlink, and the deferred free
 * queued with {@code callSrcu}: after a grace period, {@code freeNotifier} and {@code mmdrop} on
 * the notifier domain's callback thread). One invocation does {@value #BATCH} get+put cycles and
 * then {@link MmuNotifiers#synchronize()}, which waits until every one of those frees has run, so
 * the queue stays bounded and the score (ns per cycle, {@code @OperationsPerInvocation(BATCH)})
 * includes the grace periods, the frees and 1/{@value #BATCH} of a {@code synchronize()}.
 *
 * <p>Benchmarks (AverageTime; suffix = thread count, fixed: <b>do not pass {@code -t}</b>):
 * {@code getLastPut1Thread}; {@code getLastPut2Threads}: two threads, two drivers (one ops each)
 * on one shared mm, so they contend on its mmap write lock and subscription monitor, and each
 * copy-on-write link or unlink copies an array that may hold the other driver's notifier. Note
 * the third runnable thread, the domain's callback thread, on a 2-core machine. Each trial
 * checks that every allocated notifier was freed exactly once and that the mm's count is back
 * to 1 (no leaked {@code mmgrab}).
 *
 * <p>Run (2 forks, under 1 minute):
 * <pre>
 * java -jar benchmarks/target/benchmarks.jar NotifierLastPutBenchmark \
 *     -f 1 -wi 3 -i 5 -w 1s -r 1s -prof gc -rf json -rff results/notifier-lastput.json
 * </pre>
 * For publishing: {@code -f 3 -wi 5 -i 10 -w 2s -r 2s}. {@code gc.alloc.rate.norm} is the
 * bytes per cycle: the notifier, the two copy-on-write arrays, the free's {@code Runnable} and
 * its SRCU queue node.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED") // JDK 22+: the fence-free SRCU reader
public class NotifierLastPutBenchmark {

    /** get+put cycles per invocation, followed by one {@code synchronize()}. */
    public static final int BATCH = 1000;

    /** The mm, shared by all threads of the trial. */
    @State(Scope.Benchmark)
    public static class Mm {
        MmStruct mm;

        @Setup(Level.Trial)
        public void setUp() {
            mm = new MmStruct();
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            MmuNotifiers.synchronize();
            if (mm.count() != 1) {
                throw new IllegalStateException("mm count " + mm.count() + " after every free: an mmgrab leaked");
            }
            mm.mmput();
        }
    }

    /** This thread's driver. */
    @State(Scope.Thread)
    public static class Driver {
        final NotifierBenchOps ops = new NotifierBenchOps(false);

        @TearDown(Level.Trial)
        public void tearDown() {
            MmuNotifiers.synchronize();
            if (ops.allocated == 0 || ops.freed != ops.allocated) {
                throw new IllegalStateException("allocated " + ops.allocated + ", freed " + ops.freed);
            }
        }
    }

    @Benchmark
    @Threads(1)
    @OperationsPerInvocation(BATCH)
    public void getLastPut1Thread(Mm m, Driver d) {
        cycles(m.mm, d.ops);
    }

    @Benchmark
    @Threads(2)
    @OperationsPerInvocation(BATCH)
    public void getLastPut2Threads(Mm m, Driver d) {
        cycles(m.mm, d.ops);
    }

    private static void cycles(MmStruct mm, NotifierBenchOps ops) {
        for (int i = 0; i < BATCH; i++) {
            MmuNotifiers.put(MmuNotifiers.get(ops, mm));
        }
        MmuNotifiers.synchronize();
    }
}
