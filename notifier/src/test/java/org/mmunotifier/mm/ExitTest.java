package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** B-27: __mmu_notifier_release, run by the last mmput; and the mm reference counts. */
class ExitTest extends NotifierTestBase {

    @Test
    void B27_exit_releasesEveryNotifierNewestFirst_inOneReadSection_thenEmptiesTheList() {
        MmStruct mm = new MmStruct();
        List<String> order = Collections.synchronizedList(new ArrayList<>());
        class Ordering extends Recorder.Ops {
            Ordering(String name) {
                super(name);
            }

            @Override
            public Recorder allocNotifier(MmStruct m) {
                return track(new Recorder("got", this));
            }

            @Override
            void onRelease(Recorder mn, MmStruct m) {
                order.add(mn.name + (NotifierDomain.SRCU.readLockHeld() ? "" : " outside SRCU"));
            }
        }
        Ordering ops = new Ordering("exit");
        Recorder a = track(new Recorder("a", ops));
        Recorder b = track(new Recorder("b", ops));
        MmuNotifiers.register(a, mm);
        MmuNotifiers.register(b, mm);
        Recorder got = MmuNotifiers.get(new Ordering("other"), mm);
        mm.mmput();
        assertThat(order).containsExactly("got", "b", "a");
        assertThat(mm.subscriptions.list).isEmpty();
        assertThat(List.of(a, b, got)).noneMatch(n -> n.linked());
        assertThat(got.users).as("counts of gets are untouched").isEqualTo(1);
        assertThat(mm.users()).isZero();
        assertThat(mm.count()).as("one reference per notifier is left").isEqualTo(3);

        MmuNotifierRange r = range(mm);
        PrimaryMmu.invalidateRangeStart(r);
        PrimaryMmu.invalidateRangeEnd(r);
        assertThat(a.starts.get() + b.starts.get() + got.starts.get()).as("no callback after exit").isZero();

        MmuNotifiers.put(got);
        MmuNotifiers.unregister(a, mm);
        MmuNotifiers.unregister(b, mm);
        assertThat(a.releases.get() + b.releases.get() + got.releases.get()).isEqualTo(3);
        MmuNotifiers.synchronize();
        assertThat(mm.isDestroyed()).isTrue();
    }

    @Test
    void B27_exit_withAThrowingRelease_stillReleasesTheOthers_emptiesTheList_andReportsIt() {
        MmStruct mm = new MmStruct();
        mm.mmgrab();
        RuntimeException first = new RuntimeException("first");
        RuntimeException second = new RuntimeException("second");
        Recorder.Ops ops = new Recorder.Ops("throw") {
            @Override
            void onRelease(Recorder mn, MmStruct m) {
                if (mn.name.equals("c")) {
                    throw first;
                }
                if (mn.name.equals("a")) {
                    throw second;
                }
            }
        };
        Recorder a = track(new Recorder("a", ops));
        Recorder b = track(new Recorder("b", ops));
        Recorder c = track(new Recorder("c", ops));
        MmuNotifiers.register(a, mm);
        MmuNotifiers.register(b, mm);
        MmuNotifiers.register(c, mm);
        assertThatThrownBy(mm::mmput).isSameAs(first).satisfies(t -> assertThat(t.getSuppressed()).containsExactly(second));
        assertThat(List.of(a, b, c)).allSatisfy(n -> assertThat(n.releases.get()).isEqualTo(1));
        assertThat(mm.subscriptions.list).isEmpty();
        assertThat(mm.users()).isZero();
        assertThat(mm.count()).as("users' reference dropped, 3 notifiers and ours left").isEqualTo(4);
        for (Recorder n : List.of(a, b, c)) {
            MmuNotifiers.unregister(n, mm);
        }
        mm.mmdrop();
        assertThat(mm.isDestroyed()).isTrue();
    }

    @Test
    void B27_lastMmput_fromACallback_isRefusedBeforeChangingAnything() {
        MmStruct mm = new MmStruct();
        AtomicReference<Throwable> caught = new AtomicReference<>();
        Recorder.Ops ops = new Recorder.Ops("put") {
            @Override
            boolean onStart(Recorder mn, MmuNotifierRange range) {
                try {
                    mm.mmput();
                } catch (Throwable t) {
                    caught.set(t);
                }
                return true;
            }
        };
        Recorder mn = track(new Recorder("a", ops));
        MmuNotifiers.register(mn, mm);
        MmuNotifierRange r = range(mm);
        PrimaryMmu.invalidateRangeStart(r);
        PrimaryMmu.invalidateRangeEnd(r);
        assertThat(caught.get()).isInstanceOf(IllegalStateException.class).hasMessageContaining("exit");
        assertThat(mm.users()).isEqualTo(1);
        MmuNotifiers.unregister(mn, mm);
    }

    @Test
    void mmStruct_referenceCounts_refuseToResurrectOrUnderflow() {
        MmStruct mm = new MmStruct();
        assertThat(mm.users()).isEqualTo(1);
        assertThat(mm.count()).isEqualTo(1);
        mm.mmget();
        assertThat(mm.mmgetNotZero()).isTrue();
        mm.mmput();
        mm.mmput();
        mm.mmgrab();
        mm.mmput(); // exit, users 0
        assertThat(mm.mmgetNotZero()).isFalse();
        assertThatThrownBy(mm::mmget).isInstanceOf(IllegalStateException.class).hasMessageContaining("exited");
        assertThatThrownBy(mm::mmput).isInstanceOf(IllegalStateException.class).hasMessageContaining("unbalanced");
        assertThat(mm.users()).isZero();
        mm.mmdrop();
        assertThat(mm.isDestroyed()).isTrue();
        assertThatThrownBy(mm::mmdrop).isInstanceOf(IllegalStateException.class).hasMessageContaining("unbalanced");
        assertThatThrownBy(mm::mmgrab).isInstanceOf(IllegalStateException.class).hasMessageContaining("destroyed");
        assertThat(mm.count()).isZero();
    }

    @Test
    void mmapLock_assertionsCheckTheCallingThread() throws Exception {
        MmStruct mm = new MmStruct();
        assertThatThrownBy(mm::assertMmapLocked).isInstanceOf(IllegalStateException.class);
        mm.mmapReadLock();
        mm.assertMmapLocked();
        assertThatThrownBy(mm::assertMmapWriteLocked).isInstanceOf(IllegalStateException.class);
        mm.mmapReadUnlock();
        mm.mmapWriteLock();
        try {
            mm.assertMmapWriteLocked();
            mm.assertMmapLocked();
            assertThat(mm.mmapWriteLockedByCurrentThread()).isTrue();
            AtomicReference<Throwable> other = new AtomicReference<>();
            Worker w = new Worker("other", () -> {
                try {
                    mm.assertMmapWriteLocked();
                } catch (Throwable t) {
                    other.set(t);
                }
            });
            w.joinChecked();
            assertThat(other.get()).as("another thread's lock does not count")
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("other");
        } finally {
            mm.mmapWriteUnlock();
        }
    }
}
