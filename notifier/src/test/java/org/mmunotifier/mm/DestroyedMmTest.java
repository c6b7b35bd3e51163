package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * After the last mmdrop the mm stays dead: every operation on it throws, naming the mm, and
 * nothing changes (the kernel's list poisoning and KASAN report a use after free there).
 */
class DestroyedMmTest extends NotifierTestBase {

    @SuppressWarnings("deprecation")
    private static Map<String, Executable> everyOperation(MmStruct mm, Recorder.Ops ops) {
        Map<String, Executable> ops2 = new LinkedHashMap<>();
        ops2.put("invalidateRangeStart", () -> PrimaryMmu.invalidateRangeStart(range(mm)));
        ops2.put("invalidateRangeStartNonblock", () -> PrimaryMmu.invalidateRangeStartNonblock(range(mm)));
        ops2.put("invalidateRange", () -> PrimaryMmu.invalidateRange(mm, 0, 0x1000));
        ops2.put("clearFlushYoung", () -> PrimaryMmu.clearFlushYoung(mm, 0, 0x1000));
        ops2.put("clearYoung", () -> PrimaryMmu.clearYoung(mm, 0, 0x1000));
        ops2.put("testYoung", () -> PrimaryMmu.testYoung(mm, 0));
        ops2.put("changePte", () -> PrimaryMmu.changePte(mm, 0, 1));
        ops2.put("get", () -> MmuNotifiers.get(ops, mm));
        ops2.put("register", () -> MmuNotifiers.register(new Recorder("x", ops), mm));
        ops2.put("unregister", () -> MmuNotifiers.unregister(new Recorder("x", ops), mm));
        ops2.put("mmget", mm::mmget);
        ops2.put("mmgetNotZero", mm::mmgetNotZero);
        ops2.put("mmput", mm::mmput);
        ops2.put("mmgrab", mm::mmgrab);
        ops2.put("mmdrop", mm::mmdrop);
        ops2.put("mmapReadLock", mm::mmapReadLock);
        ops2.put("mmapWriteLock", mm::mmapWriteLock);
        ops2.put("mmapReadTrylock", mm::mmapReadTrylock);
        ops2.put("hasNotifiers", mm::hasNotifiers);
        return ops2;
    }

    private static void assertDead(MmStruct mm, Recorder.Ops ops) {
        String name = mm.toString().substring(0, mm.toString().indexOf('['));
        everyOperation(mm, ops).forEach((op, call) -> assertThatThrownBy(call::execute).as(op)
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining(name)
                .hasMessageContaining("destroyed"));
        assertThat(mm.isDestroyed()).isTrue();
        assertThat(mm.users()).isZero();
        assertThat(mm.count()).isZero();
        assertThat(mm.mmapWriteLockedByCurrentThread()).isFalse();
    }

    @Test
    void anMmThatNeverHadNotifiers_refusesEveryOperationOnceDestroyed() {
        MmStruct mm = new MmStruct("pid 7", null);
        mm.mmput();
        assertThat(mm.isDestroyed()).isTrue();
        assertDead(mm, trackingOps("dead"));
        assertThat(mm.toString()).startsWith("MmStruct pid 7[");
    }

    @Test
    void anMmThatHadNotifiers_refusesEveryOperationOnceDestroyed() {
        MmStruct mm = new MmStruct();
        Recorder.Ops ops = trackingOps("had");
        Recorder mn = MmuNotifiers.get(ops, mm);
        mm.mmput();
        assertThat(mm.isDestroyed()).as("the notifier still holds the count").isFalse();
        MmuNotifiers.put(mn);
        MmuNotifiers.synchronize(); // the deferred free drops the last count
        assertDead(mm, ops);
        assertThatThrownBy(() -> MmuNotifiers.put(mn)).as("a put after the free")
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("no reference left");
    }

    @Test
    void aRangeStartedBeforeTheMmDied_isRefusedAtTheNextStart_andItsStateIsKept() {
        MmStruct mm = new MmStruct();
        MmuNotifierRange r = range(mm);
        PrimaryMmu.invalidateRangeStart(r);
        PrimaryMmu.invalidateRangeEnd(r);
        mm.mmput();
        assertThatThrownBy(() -> PrimaryMmu.invalidateRangeStart(r)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("PrimaryMmu.invalidateRangeStart on").hasMessageContaining("destroyed");
        assertThat(r.state).isEqualTo(MmuNotifierRange.ENDED);
    }
}
