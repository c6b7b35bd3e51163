package org.mmunotifier.simulator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.mmunotifier.mm.MmuNotifierEvent;
import org.mmunotifier.simulator.kernel.KernelOrder;
import org.mmunotifier.simulator.check.Checker;
import org.mmunotifier.simulator.check.Inject;

/**
 * Short simulations: each driver alone and all together must see no violation; each injected
 * driver bug must be caught. Runs are bounded by events, not time.
 */
class SimulationTest {
    private static final SimConfig BASE = SimConfig.defaults().withProcesses(8).withFrames(8192);

    private static Report run(SimConfig cfg) {
        return new Simulation(cfg).run(null);
    }

    private static String describe(Report r) {
        java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
        r.print(new java.io.PrintStream(b, true));
        return b.toString();
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(SimConfig.Driver.class)
    void eachDriverAlone_singleThread_seesNoViolation(SimConfig.Driver driver) {
        Report r = run(BASE.withDrivers(EnumSet.of(driver)).withThreads(1).withSeed(11).withEvents(60_000));
        assertThat(r.violations()).as(describe(r)).isZero();
        assertThat(r.count(Op.ACCESS)).as("%s made device accesses", driver).isPositive();
        assertThat(r.accessChecks()).isPositive();
        assertThat(r.driver(driver.cliName).get("notifiersAllocated")).isPositive();
        assertThat(r.driver(driver.cliName).get("notifiersFreed"))
                .isEqualTo(r.driver(driver.cliName).get("notifiersAllocated"));
        Map<String, Long> c = r.driver(driver.cliName);
        assertThat(c.get("gets")).as("every get paired with a put").isEqualTo(c.get("puts"));
        assertThat(c.get("registers")).as("every register paired with an unregister").isEqualTo(c.get("unregisters"));
        if (driver == SimConfig.Driver.DMIRROR || driver == SimConfig.Driver.USERPTR) { // interval subscriptions
            assertThat(c.get("gets") + c.get("registers")).isZero();
            assertThat(c.get("invalidations")).as("interval invalidations received").isPositive();
        } else {
            assertThat(c.get("gets") + c.get("registers")).isPositive();
        }
        assertThat(r.exitCode()).isZero();
    }

    @Test
    void gpuAndUserptr_sideBySide_listAndIntervalDesigns_seeNoViolation() {
        Report r = run(BASE.withDrivers(EnumSet.of(SimConfig.Driver.GPU, SimConfig.Driver.USERPTR)).withThreads(1)
                .withSeed(5).withEvents(60_000));
        assertThat(r.violations()).as(describe(r)).isZero();
        for (String d : new String[] {"gpu", "userptr"}) {
            assertThat(r.driver(d).get("accesses")).as(d).isPositive();
            assertThat(r.driver(d).get("invalidations")).as(d).isPositive();
            assertThat(r.driver(d).get("emptyInvalidations")).as(d).isLessThanOrEqualTo(r.driver(d).get("invalidations"));
        }
        assertThat(r.driver("gpu").get("emptyInvalidations")).as("the list notifier is called for ranges it holds nothing of")
                .isPositive();
        assertThat(r.driver("userptr").get("notifiersFreed")).isEqualTo(r.driver("userptr").get("notifiersAllocated"));
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3})
    void allDrivers_twoThreadsAndKswapd_seeNoViolation(long seed) {
        Report r = run(BASE.withThreads(2).withSeed(seed).withEvents(400_000));
        assertThat(r.violations()).as(describe(r)).isZero();
        assertThat(r.count(Op.RECLAIM_SCAN) + r.count(Op.AGE)).as("kswapd ran").isPositive();
        assertThat(r.count(Op.UNLOAD)).as("the accel driver unloaded half-way").isEqualTo(1);
    }

    @Test
    void allDrivers_fourThreadsOnFewProcesses_seeNoViolation() {
        // Few processes: workers, kswapd and devices collide on the same address spaces.
        Report r = run(BASE.withProcesses(3).withThreads(4).withSeed(8).withEvents(200_000));
        assertThat(r.violations()).as(describe(r)).isZero();
        assertThat(r.accessChecks()).isPositive();
    }

    @Test
    void defaultMix_exercisesEveryOperationAndEveryEventItRaises() {
        Report r = run(BASE.withThreads(1).withSeed(5).withEvents(200_000));
        assertThat(r.violations()).as(describe(r)).isZero();
        for (Op op : new Op[] {Op.MMAP, Op.MUNMAP, Op.MPROTECT, Op.PAGE_FAULT, Op.COW_BREAK, Op.MIGRATE, Op.MREMAP, Op.MADV_DONTNEED, Op.PAGE_MKCLEAN, Op.SOFT_DIRTY, Op.AGE,
            Op.THP_FAULT, Op.THP_SPLIT, Op.THP_COLLAPSE, Op.TEST_YOUNG, Op.RECLAIM_SCAN, Op.RECLAIM, Op.FORK, Op.EXIT, Op.OOM_KILL, Op.ATTACH, Op.DETACH, Op.ACCESS, Op.UNLOAD}) {
            assertThat(r.count(op)).as("%s happened", op).isPositive();
        }
        for (MmuNotifierEvent e : new MmuNotifierEvent[] {MmuNotifierEvent.UNMAP, MmuNotifierEvent.CLEAR,
            MmuNotifierEvent.PROTECTION_VMA, MmuNotifierEvent.PROTECTION_PAGE, MmuNotifierEvent.SOFT_DIRTY}) {
            assertThat(r.invalidations(e)).as("%s ranges raised", e).isPositive();
        }
        assertThat(r.invalidations(MmuNotifierEvent.MIGRATE)).as("5.4 has no MIGRATE event (5.9 added it)").isZero();
        assertThat(r.invalidations(MmuNotifierEvent.RELEASE)).as("5.4 has no RELEASE event (5.5 added it)").isZero();
        assertThat(r.driver("kvm").get("youngCallbacks")).as("reclaim asked kvm about young pages").isPositive();
        assertThat(r.driver("gpu").get("releases")).as("exit ran release on the gpu mirror").isPositive();
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(KernelOrder.class)
    void hugePages_faultSplitCollapseAndCopy_racingWorkersAndDevices_seeNoViolation(KernelOrder order) {
        // khugepaged often, and partial zaps that split huge blocks inside an area for it to
        // collapse again; forks share huge pages, so that writes copy them whole.
        SimConfig.Weights w = BASE.weights().with(Op.THP_COLLAPSE, 1_500).with(Op.MADV_DONTNEED, 1_000).with(Op.FORK, 100)
                .with(Op.EXIT, 100);
        Report r = run(BASE.withOrder(order).withProcesses(8).withThreads(2).withWeights(w).withSeed(41).withEvents(150_000));
        assertThat(r.violations()).as(describe(r)).isZero();
        for (Op op : new Op[] {Op.THP_FAULT, Op.THP_SPLIT, Op.THP_COLLAPSED, Op.THP_COW}) {
            assertThat(r.count(op)).as("%s happened: %s", op, describe(r)).isPositive();
        }
    }

    @Test
    void dontneedRacingFaultsAndDevices_onFewProcesses_seesNoViolation() {
        // MADV_DONTNEED zaps under the mmap read lock: faults (CPU and device), migration and
        // kswapd's reclaim run on the same pages meanwhile, and refill what it cleared.
        SimConfig.Weights w = BASE.weights().with(Op.MADV_DONTNEED, 2_000);
        Report r = run(BASE.withProcesses(3).withThreads(2).withWeights(w).withSeed(21).withEvents(200_000));
        assertThat(r.violations()).as(describe(r)).isZero();
        assertThat(r.count(Op.MADV_DONTNEED)).isPositive();
        assertThat(r.accessChecks()).isPositive();
    }

    @Test
    void oomKills_racingWorkersAndDevices_seeNoViolation_andSomeStartIsRefused() {
        // The reaper's non-blocking starts meet mirror locks that devices, faults and kswapd
        // hold: a refused start skips the area until the next try. Refusals are a race, so a
        // few short runs must see one; none may see a violation.
        SimConfig.Weights w = BASE.weights().with(Op.OOM_KILL, 400).with(Op.ACCESS, 8_000);
        long refused = 0;
        StringBuilder seen = new StringBuilder();
        for (int attempt = 0; attempt < 6 && refused == 0; attempt++) {
            Report r = run(BASE.withProcesses(3).withThreads(2).withWeights(w).withSeed(30 + attempt).withEvents(200_000));
            assertThat(r.violations()).as(describe(r)).isZero();
            assertThat(r.count(Op.OOM_KILL)).isPositive();
            refused += r.count(Op.OOM_REAP_SKIP);
            seen.append(describe(r)).append('\n');
        }
        assertThat(refused).as(seen.toString()).isPositive();
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(KernelOrder.class)
    void ksmEnabled_mergesRacingWorkersAndDevices_seeNoViolation(KernelOrder order) {
        // KSM is off by default; with a weight it merges pages that faults, copy-on-write breaks,
        // reclaim and devices touch at the same time.
        SimConfig.Weights w = BASE.weights().with(Op.KSM_MERGE, 1_000);
        Report r = run(BASE.withProcesses(4).withThreads(2).withWeights(w).withSeed(25).withEvents(200_000).withOrder(order));
        assertThat(r.violations()).as(describe(r)).isZero();
        assertThat(r.count(Op.KSM_MERGE)).isPositive();
        assertThat(r.count(Op.COW_BREAK)).isPositive();
    }

    @Test
    void strictOrder_stillRunsCleanly_andRaisesMigrate() {
        Report r = run(BASE.withThreads(1).withSeed(5).withEvents(200_000).withOrder(KernelOrder.STRICT));
        assertThat(r.violations()).as(describe(r)).isZero();
        assertThat(r.invalidations(MmuNotifierEvent.MIGRATE)).as("the strict order's migrate_vma-like MIGRATE").isPositive();
        assertThat(r.windowUses()).as("the strict order flushes under the lock: no stale window is ever used")
                .isZero();
    }

    static List<Op> events() {
        return Op.events();
    }

    /** Every operation with a weight has its case in the worker: alone in the mix, it runs cleanly. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("events")
    void everyEventAlone_runsWithoutViolation(Op event) {
        Map<Op, Integer> only = new EnumMap<>(Op.class);
        for (Op e : Op.events()) {
            only.put(e, e == event ? 1 : 0);
        }
        Report r = run(BASE.withThreads(1).withSeed(12).withEvents(3_000).withWeights(new SimConfig.Weights(only)));
        assertThat(r.violations()).as(describe(r)).isZero();
    }

    @Test
    void weights_forAnOperationThatIsNoEvent_areRefused() {
        assertThatThrownBy(() -> BASE.weights().with(Op.COW_BREAK, 1)).isInstanceOf(IllegalArgumentException.class);
        Map<Op, Integer> missing = new EnumMap<>(BASE.weights().byEvent());
        missing.remove(Op.ACCESS);
        assertThatThrownBy(() -> new SimConfig.Weights(missing)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("exactly the events");
    }

    @Test
    void sameSeed_singleThread_isDeterministic() {
        SimConfig cfg = BASE.withThreads(1).withSeed(77).withEvents(40_000);
        Report a = run(cfg);
        Report b = run(cfg);
        assertThat(a.deterministicCounts()).isEqualTo(b.deterministicCounts());
        Report c = run(cfg.withSeed(78));
        assertThat(c.deterministicCounts()).as("another seed makes another run").isNotEqualTo(a.deterministicCounts());
    }

    // ------------------------------------------------------------------ negative controls

    @ParameterizedTest(name = "threads {0}")
    @ValueSource(ints = {1, 2})
    void skipInvalidation_isCaughtAsStaleAccesses(int threads) {
        Report r = run(BASE.withThreads(threads).withSeed(3).withEvents(60_000).withInject(Inject.SKIP_INVALIDATION));
        long stale = r.violationsByKind().entrySet().stream()
                .filter(e -> e.getKey().name().startsWith("ACCESS_")).mapToLong(e -> e.getValue()).sum();
        assertThat(stale).as(describe(r)).isPositive();
        assertThat(r.exitCode()).isEqualTo(1);
    }

    @ParameterizedTest(name = "threads {0}")
    @ValueSource(ints = {1, 2})
    void freeWithoutGracePeriod_isCaughtAsUseAfterFree(int threads) {
        Report r = run(BASE.withThreads(threads).withSeed(4).withEvents(60_000).withInject(Inject.FREE_WITHOUT_GRACE_PERIOD));
        assertThat(r.violationsByKind().getOrDefault(Checker.Kind.CALLBACK_ON_FREED_STATE, 0L)).as(describe(r)).isPositive();
        assertThat(r.exitCode()).isEqualTo(1);
    }

    @Test
    void freeWithoutGracePeriod_crossThreadRace_isCaught() {
        // The cross-thread flavour (even pids): a context close frees the state while another
        // thread's invalidation runs on it. It is a race, caught by chance, so the run is shaped
        // to make it frequent: two processes (the threads often meet on one), one context per
        // process (every close is the last put), many attaches and detaches. About 5-20 per
        // second measured; a few short runs must catch it at least once.
        SimConfig.Weights churn = BASE.weights().with(Op.ATTACH, 2_000).with(Op.DETACH, 2_000);
        long caught = 0;
        StringBuilder seen = new StringBuilder();
        for (int attempt = 0; attempt < 8 && caught == 0; attempt++) {
            Report r = run(BASE.withProcesses(2).withThreads(2).withMaxHandles(1).withWeights(churn)
                    .withDrivers(EnumSet.of(SimConfig.Driver.GPU)).withSeed(40 + attempt).withEvents(400_000)
                    .withInject(Inject.FREE_WITHOUT_GRACE_PERIOD));
            caught = r.violationsByKind().getOrDefault(Checker.Kind.FREE_DURING_OTHER_CALLBACK, 0L);
            seen.append(describe(r)).append('\n');
        }
        assertThat(caught).as(seen.toString()).isPositive();
    }

    @Test
    void unloadWithoutPut_isCaughtAsCallbacksAfterUnloadAndLeaks() {
        Report r = run(BASE.withThreads(1).withSeed(6).withEvents(60_000).withInject(Inject.UNLOAD_WITHOUT_PUT));
        assertThat(r.violationsByKind()).as(describe(r)).containsKeys(Checker.Kind.CALLBACK_AFTER_UNLOAD,
                Checker.Kind.NOTIFIER_LEAK, Checker.Kind.MM_REFERENCE_LEAK);
        long leaked = r.driver("accel").get("notifiersAllocated") - r.driver("accel").get("notifiersFreed");
        assertThat(leaked).as("the accel driver leaked several notifiers").isGreaterThan(1);
        assertThat(r.violationsByKind().get(Checker.Kind.NOTIFIER_LEAK)).as("one violation per leaked notifier")
                .isEqualTo(leaked);
        assertThat(r.exitCode()).isEqualTo(1);
    }

    @Test
    void injectedBug_onlyInTheGpuDriver_leavesOtherDriversClean() {
        Report r = run(BASE.withThreads(1).withSeed(9).withEvents(60_000).withInject(Inject.SKIP_INVALIDATION));
        assertThat(describe(r)).contains("gpu").doesNotContain("kvm read page").doesNotContain("kvm wrote page")
                .doesNotContain("iommu read").doesNotContain("iommu wrote");
    }

    @ParameterizedTest(name = "threads {0}")
    @ValueSource(ints = {1, 2})
    void iommuIgnoresInvalidateRange_isCaughtAsStaleDeviceAccesses_andTheSameSeedWithoutItPasses(int threads) {
        SimConfig cfg = BASE.withThreads(threads).withSeed(11).withEvents(60_000)
                .withDrivers(EnumSet.of(SimConfig.Driver.IOMMU));
        Report bad = run(cfg.withInject(Inject.IOMMU_IGNORES_INVALIDATE_RANGE));
        assertThat(bad.driver("iommu").get("accessViolations")).as(describe(bad)).isPositive();
        assertThat(bad.exitCode()).isEqualTo(1);
        Report good = run(cfg);
        assertThat(good.violations()).as(describe(good)).isZero();
    }

    @ParameterizedTest(name = "threads {0}")
    @ValueSource(ints = {1, 2})
    void oomReaperBlocking_isCaughtAsABlockingCallInANonBlockableStart_andTheSameSeedWithoutItPasses(int threads) {
        SimConfig cfg = BASE.withThreads(threads).withSeed(14).withEvents(60_000)
                .withWeights(BASE.weights().with(Op.OOM_KILL, 100)).withDrivers(EnumSet.of(SimConfig.Driver.GPU));
        Report bad = run(cfg.withInject(Inject.OOM_REAPER_BLOCKING));
        assertThat(bad.violationsByKind().getOrDefault(Checker.Kind.BLOCKED_IN_NONBLOCKABLE, 0L)).as(describe(bad))
                .isPositive();
        assertThat(bad.exitCode()).isEqualTo(1);
        Report good = run(cfg);
        assertThat(good.violations()).as(describe(good)).isZero();
        assertThat(good.count(Op.OOM_KILL)).isPositive();
    }

    @Test
    void kvmRetryCheckBeforeLock_isCaughtAsStaleInstalls_andTheSameSeedWithoutItPasses() {
        // A race: the fault path's unlocked check must be overtaken by an invalidation. Two
        // workers and kswapd on few processes make that frequent; a few runs must catch it.
        long caught = 0;
        StringBuilder seen = new StringBuilder();
        SimConfig cfg = BASE.withProcesses(2).withThreads(2).withDrivers(EnumSet.of(SimConfig.Driver.KVM))
                .withEvents(200_000);
        for (int attempt = 0; attempt < 6 && caught == 0; attempt++) {
            Report r = run(cfg.withSeed(60 + attempt).withInject(Inject.KVM_RETRY_CHECK_BEFORE_LOCK));
            caught = r.driver("kvm").get("accessViolations");
            seen.append(describe(r)).append('\n');
        }
        assertThat(caught).as(seen.toString()).isPositive();
        Report good = run(cfg.withSeed(60));
        assertThat(good.violations()).as(describe(good)).isZero();
    }

    @Test
    void oomReaperUnpairedEnd_isCaughtAsAStartNeverEnded_andWithoutItTheRefusedStartsArePaired() {
        // A race: some driver must refuse a non-blockable start (its lock busy) while another's
        // start succeeds. Busy devices on few processes make that frequent; a few runs must see it.
        SimConfig cfg = BASE.withProcesses(3).withThreads(2).withEvents(200_000)
                .withWeights(BASE.weights().with(Op.OOM_KILL, 400).with(Op.ACCESS, 8_000));
        long caught = 0;
        StringBuilder seen = new StringBuilder();
        for (int attempt = 0; attempt < 6 && caught == 0; attempt++) {
            Report r = run(cfg.withSeed(70 + attempt).withInject(Inject.OOM_REAPER_UNPAIRED_END));
            caught = r.violationsByKind().getOrDefault(Checker.Kind.START_WITHOUT_END, 0L);
            assertThat(r.violations()).as("nothing but the unpaired starts: %s", describe(r)).isEqualTo(caught);
            seen.append(describe(r)).append('\n');
            if (caught > 0) {
                assertThat(r.exitCode()).isEqualTo(1);
                assertThat(r.count(Op.OOM_REAP_SKIP)).as("a refused start is what leaves the others unended").isPositive();
            }
        }
        assertThat(caught).as(seen.toString()).isPositive();
        long refusedAndPaired = 0;
        for (int attempt = 0; attempt < 6 && refusedAndPaired == 0; attempt++) {
            Report good = run(cfg.withSeed(70 + attempt));
            assertThat(good.violations()).as(describe(good)).isZero();
            refusedAndPaired += good.count(Op.OOM_REAP_SKIP);
        }
        assertThat(refusedAndPaired).as("the fixed start met a refusal too, and ended the others").isPositive();
    }

    @ParameterizedTest(name = "threads {0}")
    @ValueSource(ints = {1, 2})
    void ksmWithoutBracket_isCaughtAsStaleMirrorAccesses_andTheSameSeedWithoutItPasses(int threads) {
        SimConfig cfg = BASE.withThreads(threads).withSeed(21).withEvents(100_000)
                .withWeights(BASE.weights().with(Op.KSM_MERGE, 400));
        Report bad = run(cfg.withInject(Inject.KSM_WITHOUT_BRACKET));
        long mirrors = bad.driver("gpu").get("accessViolations") + bad.driver("kvm").get("accessViolations")
                + bad.driver("accel").get("accessViolations");
        assertThat(mirrors).as(describe(bad)).isPositive();
        assertThat(bad.exitCode()).isEqualTo(1);
        Report good = run(cfg);
        assertThat(good.violations()).as(describe(good)).isZero();
    }
}
