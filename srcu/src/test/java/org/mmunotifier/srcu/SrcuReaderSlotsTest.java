package org.mmunotifier.srcu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Behaviour 11 in docs/srcu.md: the one-fence reader's per-thread slots. The flavour a domain
 * and a thread use; the scan's unlock-first order over slots; the lifecycle of the registry (a
 * dead thread's slot is folded, a live one stays, whatever it is doing); virtual threads leave
 * nothing behind. Each lifecycle property has a broken registry ({@link BrokenCounters}) that
 * the same assertion catches.
 */
class SrcuReaderSlotsTest {

    // ------------------------------------------------------------------ flavour

    @Test
    void flavour_defaultIsFenceFreeWhereAvailable_elseOneFence_withAReason_andAPlatformThreadGetsASlot() {
        try (Srcu srcu = new Srcu("flavour-default")) {
            String blocker = FenceFreeSupport.blocker();
            if (blocker == null) {
                assertThat(srcu.flavour().flavour()).isEqualTo(ReaderFlavour.FENCE_FREE);
                assertThat(srcu.flavour().reason()).contains("default where available").contains("membarrier");
            } else {
                assertThat(srcu.flavour().flavour()).isEqualTo(ReaderFlavour.ONE_FENCE);
                assertThat(srcu.flavour().reason()).contains("default").contains(blocker);
            }
            int before = srcu.registeredSlots();
            assertThat(srcu.reader().flavour()).isEqualTo(srcu.flavour().flavour());
            assertThat(srcu.registeredSlots()).as("this thread registered its slot").isEqualTo(before + 1);
        }
    }

    @Test
    void flavour_twoRmwDomain_saysSo_andRegistersNoSlot() {
        try (Srcu srcu = BrokenCounters.domain("flavour-two-rmw", new ReaderCounters(), ReaderFlavour.TWO_RMW)) {
            assertThat(srcu.flavour().flavour()).isEqualTo(ReaderFlavour.TWO_RMW);
            assertThat(srcu.flavour().reason()).isEqualTo("requested by the builder");
            int idx = srcu.readLock();
            assertThat(srcu.reader().flavour()).isEqualTo(ReaderFlavour.TWO_RMW);
            assertThat(srcu.activeReaders()).isEqualTo(1);
            srcu.readUnlock(idx);
            assertThat(srcu.registeredSlots()).isZero();
            srcu.synchronize();
        }
    }

    @Test
    void flavourChoice_refusesNulls() {
        assertThatThrownBy(() -> new Srcu.FlavourChoice(null, "x")).isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> new Srcu.FlavourChoice(ReaderFlavour.ONE_FENCE, null))
                .isInstanceOf(NullPointerException.class);
    }

    /** On each flavour, and on either index (the second round runs after a flip). */
    @ParameterizedTest(name = "{0}")
    @EnumSource(ReaderFlavour.class)
    void misuse_isRefusedOnEitherFlavour_andChangesNothing(ReaderFlavour flavour) {
        try (Srcu srcu = BrokenCounters.domain("misuse-" + flavour, new ReaderCounters(), flavour)) {
            for (int round = 0; round < 2; round++) {
                assertThatThrownBy(() -> srcu.readUnlock(0)).hasMessageContaining("holds no read section");
                assertThatThrownBy(() -> srcu.readUnlock(1)).hasMessageContaining("holds no read section");
                int outer = srcu.readLock();
                assertThat(outer).as("round %d", round).isEqualTo(round);
                int inner = srcu.readLock();
                assertThatThrownBy(() -> srcu.readUnlock(outer ^ 1)).hasMessageContaining("index " + (outer ^ 1));
                assertThatThrownBy(() -> srcu.readUnlock(2)).hasMessageContaining("0 or 1");
                assertThatThrownBy(srcu::synchronize).hasMessageContaining("deadlock");
                assertThat(srcu.activeReaders()).isEqualTo(2);
                assertThat(srcu.reader()).hasToString("Srcu.Reader[domain=misuse-" + flavour + ", thread="
                        + Thread.currentThread().getName() + ", sections=2]");
                srcu.readUnlock(inner);
                assertThat(srcu.readLockHeld()).as("still nested once").isTrue();
                srcu.readUnlock(outer);
                assertThat(srcu.readLockHeld()).isFalse();
                assertThatThrownBy(() -> srcu.readUnlock(outer)).as("double unlock").hasMessageContaining("holds no");
                assertThat(srcu.activeReaders()).isZero();
                srcu.synchronize(); // one flip: the next round's sections count on index 1
            }
        }
    }

    // ------------------------------------------------------------------ scan order over slots

    @Test
    void scan_slotReaderThatEntersAndLeavesBetweenSums_doesNotHideASlotReaderStillInside() {
        AtomicReference<Srcu> domain = new AtomicReference<>();
        AtomicInteger hookRuns = new AtomicInteger();
        ReaderCounters counters = new ReaderCounters(1) {
            @Override
            void betweenSums() {
                if (hookRuns.incrementAndGet() > 1) {
                    return; // only the first scan gets reader B
                }
                int b = domain.get().readLock(); // reader B, on the same slot as A
                domain.get().readUnlock(b);
            }
        };
        try (Srcu srcu = BrokenCounters.domain("slot-scan", counters)) {
            domain.set(srcu);
            int a = srcu.readLock(); // reader A is inside, counted on this thread's slot
            assertThat(srcu.reader().flavour()).isNotEqualTo(ReaderFlavour.TWO_RMW);
            assertThat(counters.readersGone(a)).as("reader A is still inside").isFalse();
            assertThat(hookRuns).hasValue(1);
            srcu.readUnlock(a);
            assertThat(counters.readersGone(a)).as("and once A has left, none are").isTrue();
        }
    }

    @Test
    void scan_negativeControl_locksSummedFirst_isFooledBySlotReadersToo() {
        AtomicReference<Srcu> domain = new AtomicReference<>();
        ReaderCounters broken = BrokenCounters.locksBeforeUnlocks(() -> {
            int b = domain.get().readLock();
            domain.get().readUnlock(b);
        });
        Srcu srcu = BrokenCounters.domain("slot-scan-broken", broken);
        domain.set(srcu);
        int a = srcu.readLock();
        assertThat(broken.readersGone(a)).as("the reversed scan wrongly reports no readers").isTrue();
        srcu.readUnlock(a);
    }

    // ------------------------------------------------------------------ slot lifecycle

    /** Runs {@code body} on a new platform thread and waits for it to terminate. */
    private static void onThreadThatExits(Runnable body) throws InterruptedException {
        Thread t = new Thread(body, "short-lived");
        t.start();
        t.join();
        assertThat(t.isAlive()).isFalse();
    }

    @Test
    void threadThatExitsNormally_isFoldedAtTheNextGracePeriod_sumsStayBalanced() throws Exception {
        try (Srcu srcu = new Srcu("fold-normal")) {
            srcu.reader(); // this thread's slot, so that the count below is about the other one
            int before = srcu.registeredSlots();
            onThreadThatExits(() -> {
                for (int i = 0; i < 5; i++) {
                    int idx = srcu.readLock();
                    srcu.readUnlock(idx);
                }
            });
            assertThat(srcu.registeredSlots()).as("the dead thread's slot, not yet pruned").isEqualTo(before + 1);
            srcu.synchronize(); // prunes at its start
            assertThat(srcu.registeredSlots()).as("folded").isEqualTo(before);
            assertThat(srcu.activeReaders()).isZero();
            srcu.synchronize(); // and grace periods still end
        }
    }

    @Test
    void threadThatDiesInsideASection_keepsItOpenAfterFolding() throws Exception {
        threadThatDiesInsideASection_keepsItOpen(new ReaderCounters(), true);
    }

    @Test
    void negativeControl_registryThatDropsDeadSlots_losesTheOpenSection() throws Exception {
        threadThatDiesInsideASection_keepsItOpen(BrokenCounters.dropsDeadSlots(), false);
    }

    /**
     * A thread that ends inside a section (a bug: no finally) holds it open forever, as in Linux:
     * folding its slot must keep that count, or grace periods would end while it was "inside".
     */
    private static void threadThatDiesInsideASection_keepsItOpen(ReaderCounters counters, boolean expectKept)
            throws Exception {
        Srcu srcu = BrokenCounters.domain("fold-open", counters);
        int before = srcu.registeredSlots();
        onThreadThatExits(srcu::readLock); // never unlocks
        counters.pruneDeadSlots(); // what the next grace period does first (which would then never end)
        assertThat(srcu.registeredSlots()).as("the slot was pruned").isEqualTo(before);
        if (expectKept) {
            assertThat(srcu.activeReaders()).as("the dead thread's section still counts").isEqualTo(1);
            assertThatThrownBy(srcu::close).hasMessageContaining("1 reader(s) active");
        } else {
            assertThat(srcu.activeReaders()).as("the broken registry forgot the open section").isZero();
        }
    }

    @Test
    void threadThatDidDownReadAndDied_isPruned_andAnotherThreadsUpReadBalancesTheSums() throws Exception {
        try (Srcu srcu = new Srcu("fold-down-read")) {
            srcu.reader();
            int before = srcu.registeredSlots();
            AtomicInteger idx = new AtomicInteger(-1);
            onThreadThatExits(() -> idx.set(srcu.downRead()));
            Thread syncer = new Thread(srcu::synchronize, "syncer"); // registers a slot too, then dies
            syncer.start();
            Thread.sleep(50);
            assertThat(syncer.isAlive()).as("the downRead section outlives its thread").isTrue();
            assertThat(srcu.activeReaders()).isEqualTo(1);
            srcu.upRead(idx.get()); // on this thread
            syncer.join(20_000);
            assertThat(syncer.isAlive()).isFalse();
            srcu.synchronize();
            assertThat(srcu.registeredSlots()).as("both dead threads' slots were pruned").isEqualTo(before);
            assertThat(srcu.activeReaders()).isZero();
        }
    }

    /**
     * Folding keeps all four of a dead thread's counts: sections it ended on either index stay
     * balanced, and the one it never ended (on index 1) stays open, on index 1 only.
     */
    @Test
    void threadThatReadOnBothIndexes_isFoldedWithAllFourCounts() throws Exception {
        ReaderCounters counters = new ReaderCounters();
        Srcu srcu = BrokenCounters.domain("fold-both", counters);
        CountDownLatch onIndex0 = new CountDownLatch(1);
        CountDownLatch flipped = new CountDownLatch(1);
        AtomicReference<String> indexes = new AtomicReference<>("");
        Thread t = new Thread(() -> {
            StringBuilder seen = new StringBuilder();
            for (int i = 0; i < 2; i++) {
                int idx = srcu.readLock();
                seen.append(idx);
                srcu.readUnlock(idx);
            }
            onIndex0.countDown();
            try {
                flipped.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            for (int i = 0; i < 3; i++) {
                int idx = srcu.readLock();
                seen.append(idx);
                srcu.readUnlock(idx);
            }
            seen.append(srcu.readLock()); // and dies inside this section
            indexes.set(seen.toString());
        }, "reads-both");
        t.start();
        assertThat(onIndex0.await(10, TimeUnit.SECONDS)).isTrue();
        srcu.synchronize(); // one flip: new readers count on index 1
        flipped.countDown();
        t.join(10_000);
        assertThat(indexes.get()).isEqualTo("001111");
        int before = srcu.registeredSlots();
        counters.pruneDeadSlots();
        assertThat(srcu.registeredSlots()).as("the dead thread's slot was folded").isEqualTo(before - 1);
        assertThat(counters.lockSum(0)).isEqualTo(2);
        assertThat(counters.unlockSum(0)).isEqualTo(2);
        assertThat(counters.lockSum(1)).isEqualTo(4);
        assertThat(counters.unlockSum(1)).isEqualTo(3);
        assertThat(srcu.activeReaders()).isEqualTo(1);
        assertThat(counters.readersGone(0)).as("index 0: balanced").isTrue();
        assertThat(counters.readersGone(1)).as("index 1: the section it never ended").isFalse();
    }

    /**
     * Folding a dead thread's slot keeps the live slots registered after it: a reader inside a
     * section is still counted, and its slot still scanned.
     */
    @Test
    void foldingADeadThreadsSlot_keepsTheLiveSlotsAfterIt_inTheScan() throws Exception {
        ReaderCounters counters = new ReaderCounters();
        Srcu srcu = BrokenCounters.domain("fold-keeps-later", counters);
        CountDownLatch firstRegistered = new CountDownLatch(1);
        CountDownLatch firstMayExit = new CountDownLatch(1);
        Thread first = new Thread(() -> {
            srcu.readUnlock(srcu.readLock());
            firstRegistered.countDown();
            try {
                firstMayExit.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "first-dies");
        first.start();
        assertThat(firstRegistered.await(10, TimeUnit.SECONDS)).isTrue();
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch leave = new CountDownLatch(1);
        AtomicInteger laterIdx = new AtomicInteger(-1);
        Thread later = new Thread(() -> {
            int idx = srcu.readLock(); // registered after the first thread's slot
            laterIdx.set(idx);
            inside.countDown();
            try {
                leave.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            srcu.readUnlock(idx);
        }, "later-lives");
        later.start();
        try {
            assertThat(inside.await(10, TimeUnit.SECONDS)).isTrue();
            assertThat(srcu.registeredSlots()).isEqualTo(2);
            firstMayExit.countDown();
            first.join(10_000);
            counters.pruneDeadSlots();
            assertThat(srcu.registeredSlots()).as("only the dead thread's slot left").isEqualTo(1);
            assertThat(srcu.activeReaders()).isEqualTo(1);
            assertThat(counters.readersGone(laterIdx.get())).as("the live reader is still scanned").isFalse();
        } finally {
            leave.countDown();
            later.join(10_000);
        }
        assertThat(counters.readersGone(laterIdx.get())).isTrue();
        srcu.synchronize();
        srcu.close();
    }

    @Test
    void liveIdleThread_keepsItsSlot_andItsOpenSectionIsWaitedFor() throws Exception {
        liveReaderIsWaitedFor(new ReaderCounters(), true);
    }

    @Test
    void negativeControl_registryThatPrunesLiveSlots_letsAGracePeriodEndUnderAReader() throws Exception {
        liveReaderIsWaitedFor(BrokenCounters.prunesLiveSlots(), false);
    }

    private static void liveReaderIsWaitedFor(ReaderCounters counters, boolean correct) throws Exception {
        Srcu srcu = BrokenCounters.domain("live-slot", counters);
        AtomicLong gpsWhileInside = new AtomicLong(-1);
        HeldReadSection reader = HeldReadSection.readLock("idle-reader", srcu,
                () -> gpsWhileInside.set(srcu.gracePeriodsCompleted()));
        long gp0 = srcu.gracePeriodsCompleted();
        CompletableFuture<Void> sync = CompletableFuture.runAsync(srcu::synchronize);
        try {
            if (correct) {
                Thread.sleep(50);
                assertThat(sync).as("synchronize while a live thread's section is open").isNotDone();
                assertThat(srcu.registeredSlots()).as("the live thread's slot stays").isPositive();
            } else {
                sync.get(20, TimeUnit.SECONDS);
                assertThat(srcu.gracePeriodsCompleted()).as("a grace period ended under the reader")
                        .isGreaterThan(gp0);
            }
        } finally {
            reader.close();
        }
        sync.get(20, TimeUnit.SECONDS);
        if (correct) {
            assertThat(gpsWhileInside.get()).as("no grace period ended while the reader was inside").isEqualTo(gp0);
            assertThat(srcu.activeReaders()).isZero();
            srcu.close();
        }
    }

    // ------------------------------------------------------------------ the reader cache

    /**
     * readLock finds the calling thread's Reader in a cache indexed by thread id; a thread whose
     * id lands on the same entry must get its own Reader, never the other thread's (which would
     * make two threads write one slot), and each keeps its own sections.
     */
    @Test
    @SuppressWarnings("deprecation") // Thread.getId(), as the cache uses it
    void readerCache_twoThreadsOnOneEntry_eachGetTheirOwnReader() throws Exception {
        try (Srcu srcu = new Srcu("reader-cache")) {
            Srcu.Reader mine = srcu.reader();
            int outer = srcu.readLock(); // this thread's entry now holds its Reader
            AtomicReference<Object> seen = new AtomicReference<>();
            Runnable twinBody = () -> {
                try {
                    int idx = srcu.readLock();
                    boolean held = srcu.readLockHeld();
                    Srcu.Reader r = srcu.reader();
                    srcu.readUnlock(idx);
                    seen.set(held && !srcu.readLockHeld() ? r : "the twin's sections were wrong");
                } catch (Throwable e) {
                    seen.set(e);
                }
            };
            Thread twin = null;
            for (int i = 0; i < 4096 && twin == null; i++) { // ids are handed out in order
                Thread t = new Thread(twinBody, "twin");
                if ((t.getId() & 255) == (Thread.currentThread().getId() & 255)) {
                    twin = t;
                }
            }
            assertThat(twin).as("a thread whose id shares this thread's cache entry").isNotNull();
            twin.start();
            twin.join(10_000);
            assertThat(seen.get()).isInstanceOf(Srcu.Reader.class).isNotSameAs(mine);
            assertThat(seen.get().toString()).contains("thread=twin");
            assertThat(srcu.reader()).as("this thread still finds its own Reader").isSameAs(mine);
            assertThat(srcu.readLockHeld()).isTrue();
            assertThat(srcu.cachedVirtualReaders()).as("both entries are platform threads'").isZero();
            srcu.readUnlock(outer);
            assertThat(srcu.activeReaders()).isZero();
        }
    }

    // ------------------------------------------------------------------ virtual threads

    @Test
    void virtualThreads_useTheStripes_andLeaveNoSlotBehind() throws Exception {
        ExecutorService vts = newVirtualThreadPerTaskExecutor();
        try (Srcu srcu = new Srcu("virtual")) {
            int before = srcu.registeredSlots();
            AtomicLong twoRmw = new AtomicLong();
            AtomicLong sections = new AtomicLong();
            int n = 100_000;
            try {
                for (int i = 0; i < n; i++) {
                    vts.execute(() -> {
                        int idx = srcu.readLock();
                        if (srcu.reader().flavour() == ReaderFlavour.TWO_RMW) {
                            twoRmw.incrementAndGet();
                        }
                        sections.incrementAndGet();
                        srcu.readUnlock(idx);
                    });
                }
            } finally {
                vts.shutdown();
                assertThat(vts.awaitTermination(20, TimeUnit.SECONDS)).isTrue();
            }
            assertThat(sections).hasValue(n);
            assertThat(twoRmw).as("every virtual thread used the striped counters").hasValue(n);
            assertThat(srcu.registeredSlots()).as("no slot registered for a virtual thread").isEqualTo(before);
            assertThat(srcu.cachedVirtualReaders()).as("no virtual thread in the reader cache").isZero();
            assertThat(srcu.activeReaders()).isZero();
            srcu.synchronize();
        }
    }

    /**
     * A virtual thread reading a domain of any flavour counts on the stripes (never on a slot of
     * its own, which no scan would find), and its section is waited for.
     */
    @ParameterizedTest(name = "{0}")
    @EnumSource(ReaderFlavour.class)
    void virtualThreadReader_onEveryFlavour_usesTheStripes_andIsWaitedFor(ReaderFlavour flavour) throws Exception {
        ExecutorService vts = newVirtualThreadPerTaskExecutor();
        try (Srcu srcu = BrokenCounters.domain("virtual-" + flavour, new ReaderCounters(), flavour)) {
            CountDownLatch inside = new CountDownLatch(1);
            CountDownLatch leave = new CountDownLatch(1);
            AtomicReference<Object> seen = new AtomicReference<>();
            long gp0 = srcu.gracePeriodsCompleted();
            vts.execute(() -> {
                try {
                    int idx = srcu.readLock();
                    seen.set(srcu.reader().flavour());
                    inside.countDown();
                    leave.await();
                    srcu.readUnlock(idx);
                } catch (Throwable e) {
                    seen.set(e);
                    inside.countDown();
                }
            });
            assertThat(inside.await(10, TimeUnit.SECONDS)).isTrue();
            assertThat(seen.get()).isEqualTo(ReaderFlavour.TWO_RMW);
            assertThat(srcu.activeReaders()).isEqualTo(1);
            CompletableFuture<Void> sync = CompletableFuture.runAsync(srcu::synchronize);
            Thread.sleep(50);
            assertThat(sync).as("synchronize waits for the virtual thread's section").isNotDone();
            assertThat(srcu.gracePeriodsCompleted()).isEqualTo(gp0);
            leave.countDown();
            sync.get(20, TimeUnit.SECONDS);
            vts.shutdown();
            assertThat(vts.awaitTermination(20, TimeUnit.SECONDS)).isTrue();
            assertThat(seen.get()).as("its unlock was accepted").isEqualTo(ReaderFlavour.TWO_RMW);
            assertThat(srcu.activeReaders()).isZero();
        } finally {
            vts.shutdownNow();
        }
    }

    /** {@code Executors.newVirtualThreadPerTaskExecutor()} where the JDK has it (21+); skips the test otherwise. */
    private static ExecutorService newVirtualThreadPerTaskExecutor() throws Exception {
        java.lang.reflect.Method m;
        try {
            m = Executors.class.getMethod("newVirtualThreadPerTaskExecutor");
        } catch (NoSuchMethodException e) {
            m = null;
        }
        assumeTrue(m != null, "virtual threads need JDK 21+ (run this test there too)");
        return (ExecutorService) m.invoke(null);
    }
}
