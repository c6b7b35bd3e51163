package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

/**
 * Object identity across registrations: one object is never registered twice at once, a get never
 * picks up a registration that is being torn down, and an end is never delivered to a later
 * registration of the object that received the start. (Found in review; each test fails on the
 * code before its fix.)
 */
class ReregistrationTest extends NotifierTestBase {

    @Test
    void B9_getDuringUnregister_allocatesAFreshNotifier_andTheMmIsDroppedOnce() throws Exception {
        MmStruct mm = new MmStruct();
        CountDownLatch inRelease = new CountDownLatch(1);
        CountDownLatch proceed = gate();
        Recorder.Ops ops = Recorder.Ops.blockingRelease("x", inRelease, proceed);
        Recorder registered = track(new Recorder("registered", ops));
        MmuNotifiers.register(registered, mm);
        Worker unregistering = new Worker("unregister", () -> MmuNotifiers.unregister(registered, mm));
        inRelease.await();
        // The registration is being torn down (users already 0, still linked): get must not find it.
        Recorder fresh = track(MmuNotifiers.get(ops, mm));
        assertThat(fresh).isNotSameAs(registered);
        proceed.countDown();
        unregistering.joinChecked();
        MmuNotifiers.put(fresh);
        MmuNotifiers.synchronize();
        assertThat(fresh.frees.get()).isEqualTo(1);
        assertThat(registered.frees.get()).as("unregister never frees").isZero();
        assertThat(mm.users()).isEqualTo(1);
        assertThat(mm.count()).as("every mmgrab dropped exactly once").isEqualTo(1);
    }

    @Test
    void end_afterUnregisterAndRegisterAgain_isNotDeliveredToTheNewRegistration() {
        MmStruct mm = new MmStruct();
        Recorder.Ops ops = new Recorder.Ops("again");
        Recorder mn = track(new Recorder("a", ops));
        MmuNotifiers.register(mn, mm);
        MmuNotifierRange range = range(mm);
        PrimaryMmu.invalidateRangeStart(range);
        assertThat(mn.starts.get()).isEqualTo(1);
        MmuNotifiers.unregister(mn, mm);
        MmuNotifiers.register(mn, mm); // the same object, a new registration that saw no start
        PrimaryMmu.invalidateRangeEnd(range);
        assertThat(mn.ends.get()).as("the end belongs to the old registration").isZero();
        assertThat(mn.ranges.get()).isZero();
        // A range started on the new registration pairs as usual.
        MmuNotifierRange next = range(mm);
        PrimaryMmu.invalidateRangeStart(next);
        PrimaryMmu.invalidateRangeEnd(next);
        assertThat(mn.ends.get()).isEqualTo(1);
        MmuNotifiers.unregister(mn, mm);
    }

    @Test
    void register_ofAGetNotifierAfterExit_isRefused_andNoMmReferenceLeaks() {
        MmStruct mm1 = new MmStruct();
        MmStruct mm2 = new MmStruct();
        Recorder.Ops ops = new Recorder.Ops("exit");
        Recorder mn = track(MmuNotifiers.get(ops, mm1));
        mm1.mmput(); // exit: release, then unlinked; the get reference is still held
        assertThat(mn.linked()).isFalse();
        assertThatThrownBy(() -> MmuNotifiers.register(mn, mm2)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("already registered");
        assertThat(mm2.count()).isEqualTo(1);
        assertThat(mm2.hasNotifiers()).isFalse();
        MmuNotifiers.put(mn); // the get's pairing still works
        MmuNotifiers.synchronize();
        assertThat(mn.frees.get()).isEqualTo(1);
        assertThat(mm1.isDestroyed()).as("the registration's mm reference was dropped").isTrue();
        mm2.mmput();
    }

    @Test
    void register_whileTheLastPutsFreeIsPending_isRefused_andTheFreeStillRunsOnce() {
        MmStruct mm = new MmStruct();
        Recorder.Ops ops = new Recorder.Ops("pending");
        int idx = NotifierDomain.SRCU.downRead(); // holds the grace period: the free stays queued
        Recorder mn;
        try {
            mn = track(MmuNotifiers.get(ops, mm));
            MmuNotifiers.put(mn);
            assertThat(mn.frees.get()).isZero();
            assertThatThrownBy(() -> MmuNotifiers.register(mn, mm)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("deferred free");
        } finally {
            NotifierDomain.SRCU.upRead(idx);
        }
        MmuNotifiers.synchronize();
        assertThat(mn.frees.get()).isEqualTo(1);
        assertThat(mm.count()).isEqualTo(1);
        // Once freed, a pooled object may be registered again (the pool re-initialises it).
        mn.freed = false;
        MmuNotifiers.register(mn, mm);
        MmuNotifiers.unregister(mn, mm);
        assertThat(mm.count()).isEqualTo(1);
    }

    @Test
    void unregister_whileGetReferencesAreHeld_isRefused_andNothingChanges() {
        MmStruct mm = new MmStruct();
        Recorder.Ops ops = new Recorder.Ops("mixed");
        Recorder mn = track(new Recorder("a", ops));
        MmuNotifiers.register(mn, mm);
        assertThat(MmuNotifiers.get(ops, mm)).isSameAs(mn); // B-9: get finds the registration
        assertThatThrownBy(() -> MmuNotifiers.unregister(mn, mm)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("1 reference(s) from get()");
        assertThat(mn.linked()).isTrue();
        assertThat(mn.releases.get()).isZero();
        MmuNotifiers.put(mn);
        MmuNotifiers.put(mn); // the registration's own reference, dropped with put (B-9)
        MmuNotifiers.synchronize();
        assertThat(mn.frees.get()).isEqualTo(1);
        assertThat(mm.count()).isEqualTo(1);
    }
}
