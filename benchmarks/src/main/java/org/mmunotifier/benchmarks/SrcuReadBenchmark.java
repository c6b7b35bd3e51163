package org.mmunotifier.benchmarks;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.concurrent.locks.StampedLock;
import org.mmunotifier.srcu.ReaderFlavour;
import org.mmunotifier.srcu.Srcu;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
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

/**
 * Read side: the SRCU read pair ({@code readLock()} + {@code readUnlock(idx)}) against the
 * baselines a Java developer would pick instead and against the two physical floors, all in one
 * JMH run, at 1 and 2 threads (targets and results: docs/benchmarks.md).
 *
 * <p>Each {@code impl} value is one read pair; the method suffix is the thread count
 * ({@link #readPair1Thread} runs with {@code @Threads(1)}, {@link #readPair2Threads} with
 * {@code @Threads(2)}), so <b>do not pass {@code -t}</b>: it would override both.
 * <ul>
 *   <li>{@code SRCU}: {@code readLock()}/{@code readUnlock(idx)} on one {@link Srcu} shared by all
 *       threads of the trial; the index is returned (JMH consumes it). The domain runs its
 *       {@code flavour} ({@link Srcu#flavour()}, printed at setup): JMH's threads are platform
 *       threads, so each counts on a slot of its own.</li>
 *   <li>{@code SRCU_HANDLE}: the same sections through the thread's handle,
 *       {@code reader.lock()}/{@code reader.unlock(idx)} (no {@code ThreadLocal} lookup; what the
 *       MMU notifiers use).</li>
 *   <li>{@code RRWL}: {@code ReentrantReadWriteLock.readLock().lock()/unlock()} on one shared
 *       lock.</li>
 *   <li>{@code STAMPED}: {@code StampedLock.readLock()/unlockRead(stamp)} on one shared lock.</li>
 *   <li>{@code TWO_RMW_FLOOR}: two {@code getAndAdd} on a thread-private counter pair padded to
 *       128 bytes on each side (what Linux normal SRCU pays: two full barriers, two
 *       increments).</li>
 *   <li>{@code ONE_FENCE_FLOOR}: the one-fence reader's own stores and nothing else: a volatile
 *       store of {@code lock + 1} (on x86 a store and one locked add: the full fence) and a release
 *       store of {@code unlock + 1}, on a thread-private padded slot.</li>
 *   <li>{@code OPAQUE_FLOOR}: the fence-free reader's floor: two opaque stores ({@code lock + 1},
 *       {@code unlock + 1}) on the same slot, no fence.</li>
 * </ul>
 * {@code flavour} picks the domain's reader flavour: {@code DEFAULT} is what this JVM chooses
 * (fence-free on Linux with JDK 22+, one-fence on JDK 17; the forks run with native access
 * enabled), or a {@link ReaderFlavour} name; setup prints the choice and its reason.
 * The dispatch on {@code impl} is a switch on a per-trial constant; every fork runs one value,
 * so the branch is monomorphic and costs every implementation the same (a load and a compare).
 *
 * <p>Run (about 4 minutes with the defaults below; JSON for {@code docs/benchmarks.md}):
 * <pre>
 * java -jar benchmarks/target/benchmarks.jar SrcuReadBenchmark \
 *     -f 1 -wi 3 -i 5 -w 1s -r 1s -prof gc -rf json -rff results/srcu-read.json
 * </pre>
 * For publishing: {@code -f 3 -wi 5 -i 10 -w 2s -r 2s}. With {@code -prof gc}, the SRCU,
 * floor and lock rows must show {@code gc.alloc.rate.norm} ≈ 0 B/op.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED") // JDK 22+: the fence-free SRCU reader
public class SrcuReadBenchmark {

    /** The read pair under test. */
    public enum Impl { SRCU, SRCU_HANDLE, RRWL, STAMPED, TWO_RMW_FLOOR, ONE_FENCE_FLOOR, OPAQUE_FLOOR }

    /** What all threads of a trial share: the domain and the locks. */
    @State(Scope.Benchmark)
    public static class Shared {
        @Param({"SRCU", "SRCU_HANDLE", "RRWL", "STAMPED", "TWO_RMW_FLOOR", "ONE_FENCE_FLOOR", "OPAQUE_FLOOR"})
        public Impl impl;

        /** The domain's reader flavour: DEFAULT (what {@code new Srcu(name)} picks here), or a {@link ReaderFlavour} name. */
        @Param({"DEFAULT"})
        public String flavour;

        Srcu srcu;
        ReentrantReadWriteLock.ReadLock rrwlRead;
        StampedLock stamped;

        @Setup(Level.Trial)
        public void setUp() {
            srcu = flavour.equals("DEFAULT") ? new Srcu("bench-read")
                    : Srcu.builder("bench-read").readerFlavour(ReaderFlavour.valueOf(flavour)).build();
            System.out.println("# SRCU reader flavour: " + srcu.flavour()); // in JMH's output, per fork
            rrwlRead = new ReentrantReadWriteLock().readLock();
            stamped = new StampedLock();
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            long active = srcu.activeReaders();
            srcu.close();
            if (active != 0) {
                throw new IllegalStateException("unbalanced SRCU read pairs: " + active + " active");
            }
        }
    }

    // ---- thread-private floors, padded to 128 bytes on both sides (class hierarchy keeps order)

    abstract static class PadBefore {
        long p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;
    }

    abstract static class Fields extends PadBefore {
        long lockCount;
        long unlockCount;
    }

    abstract static class PadAfter extends Fields {
        long q00, q01, q02, q03, q04, q05, q06, q07, q08, q09, q10, q11, q12, q13, q14, q15;
    }

    /** Per-thread counters and slot for the two floors, and the thread's SRCU handle. */
    @State(Scope.Thread)
    public static class Private extends PadAfter {
        Srcu.Reader reader;

        static final VarHandle LOCK_COUNT;
        static final VarHandle UNLOCK_COUNT;

        static {
            try {
                MethodHandles.Lookup l = MethodHandles.lookup();
                LOCK_COUNT = l.findVarHandle(Fields.class, "lockCount", long.class);
                UNLOCK_COUNT = l.findVarHandle(Fields.class, "unlockCount", long.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        /** Runs on the benchmark thread itself (a thread-scoped state), so the handle is that thread's. */
        @Setup(Level.Trial)
        public void setUp(Shared s) {
            reader = s.srcu.reader();
        }

        @TearDown(Level.Trial)
        public void check() {
            if ((long) LOCK_COUNT.getVolatile(this) != (long) UNLOCK_COUNT.getVolatile(this)) {
                throw new IllegalStateException("floor counters diverged");
            }
        }
    }

    @Benchmark
    @Threads(1)
    public int readPair1Thread(Shared s, Private p) {
        return readPair(s, p);
    }

    @Benchmark
    @Threads(2)
    public int readPair2Threads(Shared s, Private p) {
        return readPair(s, p);
    }

    private static int readPair(Shared s, Private p) {
        switch (s.impl) {
            case SRCU: {
                Srcu srcu = s.srcu;
                int idx = srcu.readLock();
                srcu.readUnlock(idx);
                return idx;
            }
            case SRCU_HANDLE: {
                Srcu.Reader r = p.reader;
                int idx = r.lock();
                r.unlock(idx);
                return idx;
            }
            case RRWL: {
                ReentrantReadWriteLock.ReadLock l = s.rrwlRead;
                l.lock();
                l.unlock();
                return 0;
            }
            case STAMPED: {
                StampedLock l = s.stamped;
                long stamp = l.readLock();
                l.unlockRead(stamp);
                return (int) stamp;
            }
            case TWO_RMW_FLOOR: {
                long t = (long) Private.LOCK_COUNT.getAndAdd(p, 1L);
                Private.UNLOCK_COUNT.getAndAdd(p, 1L);
                return (int) t;
            }
            case ONE_FENCE_FLOOR: {
                Private.LOCK_COUNT.setVolatile(p, p.lockCount + 1);
                Private.UNLOCK_COUNT.setRelease(p, p.unlockCount + 1);
                return 0;
            }
            case OPAQUE_FLOOR: {
                Private.LOCK_COUNT.setOpaque(p, p.lockCount + 1);
                Private.UNLOCK_COUNT.setOpaque(p, p.unlockCount + 1);
                return 0;
            }
            default:
                throw new AssertionError(s.impl);
        }
    }
}
