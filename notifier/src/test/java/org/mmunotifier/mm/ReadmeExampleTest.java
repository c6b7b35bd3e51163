package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongUnaryOperator;
import org.junit.jupiter.api.Test;

/** The README's examples, kept compiling and running (the interval one also checked against the README's text). */
class ReadmeExampleTest extends NotifierTestBase {

    // ---- README example begins ----
    /** One subscription per address space, shared by every buffer the device maps from it. */
    static final class GpuMirror extends MmuNotifier {
        final Set<Buffer> buffers = ConcurrentHashMap.newKeySet();
        volatile boolean freed;
    }

    static final MmuNotifierOps<GpuMirror> MIRROR_OPS = new MmuNotifierOps<>() {
        @Override
        public GpuMirror allocNotifier(MmStruct mm) {  // first get on this mm only
            return new GpuMirror();
        }

        @Override
        public boolean invalidateRangeStart(GpuMirror m, MmuNotifierRange r) {
            for (Buffer b : m.buffers) {
                b.unmap(r.start(), r.end());           // drop device mappings of the range
            }
            return true;
        }

        @Override
        public void freeNotifier(GpuMirror m) {       // after the last put + a grace period
            m.freed = true;                            // release device resources here
        }
    };

    static final class Buffer implements AutoCloseable {
        final GpuMirror mirror;
        int unmaps;

        Buffer(MmStruct mm) {
            mirror = MmuNotifiers.get(MIRROR_OPS, mm);  // shares the subscription
            mirror.buffers.add(this);
        }

        void unmap(long start, long end) {
            unmaps++;
        }

        @Override
        public void close() {
            mirror.buffers.remove(this);
            MmuNotifiers.put(mirror);                  // the last put frees it, later
        }
    }
    // ---- README example ends ----

    @Test
    void readmeExample_sharesOneSubscription_andShutdownWaitsForTheFree() {
        MmStruct mm = new MmStruct();
        Buffer a = new Buffer(mm);
        Buffer b = new Buffer(mm);
        assertThat(a.mirror).isSameAs(b.mirror);

        MmuNotifierRange range = new MmuNotifierRange(mm, 0x1000, 0x2000, MmuNotifierEvent.UNMAP);
        PrimaryMmu.invalidateRangeStart(range);
        PrimaryMmu.invalidateRangeEnd(range);
        assertThat(a.unmaps + b.unmaps).isEqualTo(2);

        a.close();
        b.close();
        MmuNotifiers.synchronize();                    // module shutdown
        assertThat(a.mirror.freed).isTrue();
        assertThat(mm.count()).isEqualTo(1);
        mm.mmput();
        assertThat(mm.isDestroyed()).isTrue();
    }

    // ---- README interval example begins ----
    /** A device mirror of one buffer: faults pages in, drops them when the CPU side changes. */
    static final class BufferMirror {
        final ReentrantLock lock = new ReentrantLock();      // the driver's "user lock"
        final Map<Long, Long> deviceTable = new HashMap<>(); // guarded by lock
        final MmuIntervalNotifier sub;

        BufferMirror(MmStruct mm, long start, long length) {
            sub = MmuNotifiers.insertInterval(mm, start, length, this::invalidate);
        }

        private boolean invalidate(MmuIntervalNotifier s, MmuNotifierRange r, long curSeq) {
            if (r.blockable()) {
                lock.lock();
            } else if (!lock.tryLock()) {
                return false;                                // would have to sleep: refuse
            }
            try {
                s.setSeq(curSeq);                            // under the lock fault() holds
                deviceTable.keySet().removeIf(a -> a >= r.start() && a < r.end());
            } finally {
                lock.unlock();
            }
            return true;
        }

        void fault(long address, LongUnaryOperator readPrimary) {
            while (true) {
                long seq = sub.readBegin();                  // waits out a running invalidation
                long value = readPrimary.applyAsLong(address);
                lock.lock();
                try {
                    if (!sub.readRetry(seq)) {               // no invalidation since readBegin
                        deviceTable.put(address, value);
                        return;
                    }
                } finally {
                    lock.unlock();
                }
            }
        }

        void close() {
            sub.remove();                                    // no callback runs after this
        }
    }
    // ---- README interval example ends ----

    @Test
    void readmeIntervalExample_faultsIn_isInvalidatedOnlyByOverlappingRanges_andCloses() {
        MmStruct mm = new MmStruct();
        BufferMirror m = new BufferMirror(mm, 0x10000, 0x4000);
        m.fault(0x10000, a -> 42);
        m.fault(0x12000, a -> 43);
        MmuNotifierRange r = new MmuNotifierRange(mm, 0x10000, 0x11000, MmuNotifierEvent.UNMAP);
        PrimaryMmu.invalidateRangeStart(r);                  // calls m's invalidate: 0x10000 is dropped
        PrimaryMmu.invalidateRangeEnd(r);
        MmuNotifierRange elsewhere = new MmuNotifierRange(mm, 0x20000, 0x21000, MmuNotifierEvent.UNMAP);
        PrimaryMmu.invalidateRangeStart(elsewhere);          // overlaps nothing: m is not called
        PrimaryMmu.invalidateRangeEnd(elsewhere);
        assertThat(m.deviceTable).containsOnlyKeys(0x12000L);
        m.close();
        assertThat(mm.count()).isEqualTo(1);
        mm.mmput();
    }

    @Test
    void readmeIntervalExample_isTheCodeThisTestRuns() throws IOException {
        Path self = Path.of("src/test/java/org/mmunotifier/mm/ReadmeExampleTest.java");
        Path readme = Path.of("../README.md");
        String source = Files.readString(self);
        String begin = "// ---- README interval example begins ----\n";
        String code = source.substring(source.indexOf(begin) + begin.length(),
                source.indexOf("    // ---- README interval example ends ----"));
        String unindented = code.lines().map(l -> l.startsWith("    ") ? l.substring(4) : l)
                .reduce("", (a, b) -> a + b + "\n");
        assertThat(Files.readString(readme)).contains(unindented);
    }
}
