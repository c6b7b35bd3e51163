package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/** The README's example, kept compiling and running. */
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
}
