package org.mmunotifier.benchmarks;

import java.util.concurrent.TimeUnit;
import org.mmunotifier.mm.MmStruct;
import org.mmunotifier.mm.MmuIntervalNotifier;
import org.mmunotifier.mm.MmuIntervalNotifierOps;
import org.mmunotifier.mm.MmuNotifier;
import org.mmunotifier.mm.MmuNotifierEvent;
import org.mmunotifier.mm.MmuNotifierOps;
import org.mmunotifier.mm.MmuNotifierRange;
import org.mmunotifier.mm.MmuNotifiers;
import org.mmunotifier.mm.PrimaryMmu;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * Interval notifiers (Linux 5.5), single thread, AverageTime in ns per operation:
 * <ul>
 *   <li>{@code readBeginRetry}: {@link MmuIntervalNotifier#readBegin()} +
 *       {@link MmuIntervalNotifier#readRetry(long)} with no invalidation; against
 *       {@code volatileReadPair}, two volatile loads of a shared field (the floor).</li>
 *   <li>{@code invalidateTree}: one start + end pair over an mm holding {@code intervals}
 *       disjoint interval subscriptions, the range overlapping exactly one of them (whose
 *       callback calls {@code setSeq}).</li>
 *   <li>{@code invalidateLinearScan}: the same pair over an mm with one list notifier that scans
 *       an array of the same {@code intervals} for overlaps in its start (what a driver without
 *       interval notifiers does): the list notifier doing its own range filtering.</li>
 *   <li>{@code linearScanOnly}: that scan alone, without the notifier machinery.</li>
 * </ul>
 *
 * <p>Run (about 2 minutes with the quick settings):
 * <pre>
 * java -jar benchmarks/target/benchmarks.jar IntervalNotifierBenchmark \
 *     -f 1 -wi 3 -i 5 -w 1s -r 1s -rf json -rff results/interval.json
 * </pre>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED") // JDK 22+: the fence-free SRCU reader
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class IntervalNotifierBenchmark {
    static final long PAGE = 0x1000;

    /** One subscription on its own mm, never invalidated. */
    @State(Scope.Thread)
    public static class ReadState {
        MmStruct mm;
        MmuIntervalNotifier sub;
        volatile long a = 1;
        volatile long b = 1;

        @Setup(Level.Trial)
        public void setUp() {
            mm = new MmStruct();
            sub = MmuNotifiers.insertInterval(mm, 0, 16 * PAGE, (s, r, seq) -> {
                s.setSeq(seq);
                return true;
            });
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            sub.remove();
            mm.mmput();
        }
    }

    @Benchmark
    public boolean readBeginRetry(ReadState st) {
        long seq = st.sub.readBegin();
        return st.sub.readRetry(seq);
    }

    @Benchmark
    public boolean volatileReadPair(ReadState st) {
        return st.a != st.b;
    }

    /** An mm with {@code intervals} disjoint intervals; the range overlaps the middle one. */
    @State(Scope.Thread)
    public static class TreeState {
        @Param({"1", "10000"})
        int intervals;

        MmStruct mm;
        MmuIntervalNotifier[] subs;
        MmuNotifierRange range;
        long calls;

        @Setup(Level.Trial)
        public void setUp() {
            mm = new MmStruct();
            subs = new MmuIntervalNotifier[intervals];
            MmuIntervalNotifierOps ops = (s, r, seq) -> {
                s.setSeq(seq);
                calls++;
                return true;
            };
            for (int i = 0; i < intervals; i++) {
                subs[i] = MmuNotifiers.insertInterval(mm, 2L * i * PAGE, PAGE, ops);
            }
            long mid = 2L * (intervals / 2) * PAGE;
            range = new MmuNotifierRange(mm, mid, mid + PAGE, MmuNotifierEvent.CLEAR);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            if (calls == 0) {
                throw new IllegalStateException("the overlapping interval was never called");
            }
            for (MmuIntervalNotifier s : subs) {
                s.remove();
            }
            mm.mmput();
        }
    }

    @Benchmark
    public void invalidateTree(TreeState st) {
        PrimaryMmu.invalidateRangeStart(st.range);
        PrimaryMmu.invalidateRangeEnd(st.range);
    }

    /** A list notifier that filters each invalidation against its own array of intervals. */
    public static final class ScanningNotifier extends MmuNotifier {
        final long[] starts;
        final long[] lasts;
        long hits;

        ScanningNotifier(MmuNotifierOps<ScanningNotifier> ops, int n) {
            super(ops);
            starts = new long[n];
            lasts = new long[n];
            for (int i = 0; i < n; i++) {
                starts[i] = 2L * i * PAGE;
                lasts[i] = starts[i] + PAGE - 1;
            }
        }

        int scan(long start, long end) {
            int found = 0;
            long last = end - 1;
            for (int i = 0; i < starts.length; i++) {
                if (starts[i] <= last && lasts[i] >= start) {
                    found++;
                }
            }
            return found;
        }
    }

    static final MmuNotifierOps<ScanningNotifier> SCANNING_OPS = new MmuNotifierOps<>() {
        @Override
        public boolean invalidateRangeStart(ScanningNotifier mn, MmuNotifierRange range) {
            mn.hits += mn.scan(range.start(), range.end());
            return true;
        }
    };

    /** The same intervals, filtered by a list notifier's own linear scan. */
    @State(Scope.Thread)
    public static class ScanState {
        @Param({"1", "10000"})
        int intervals;

        MmStruct mm;
        ScanningNotifier notifier;
        MmuNotifierRange range;

        @Setup(Level.Trial)
        public void setUp() {
            mm = new MmStruct();
            notifier = new ScanningNotifier(SCANNING_OPS, intervals);
            MmuNotifiers.register(notifier, mm);
            long mid = 2L * (intervals / 2) * PAGE;
            range = new MmuNotifierRange(mm, mid, mid + PAGE, MmuNotifierEvent.CLEAR);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            if (notifier.hits == 0) {
                throw new IllegalStateException("the scan never found the overlapping interval");
            }
            MmuNotifiers.unregister(notifier, mm);
            mm.mmput();
        }
    }

    @Benchmark
    public void invalidateLinearScan(ScanState st) {
        PrimaryMmu.invalidateRangeStart(st.range);
        PrimaryMmu.invalidateRangeEnd(st.range);
    }

    @Benchmark
    public int linearScanOnly(ScanState st) {
        int found = st.notifier.scan(st.range.start(), st.range.end());
        st.notifier.hits += found;
        return found;
    }
}
