package org.mmunotifier.simulator.driver;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.mmunotifier.mm.MmuNotifiers;
import org.mmunotifier.simulator.Stats;
import org.mmunotifier.simulator.check.Checker;
import org.mmunotifier.simulator.kernel.FrameAllocator;
import org.mmunotifier.simulator.kernel.Kernel;
import org.mmunotifier.simulator.kernel.PageTable;
import org.mmunotifier.simulator.kernel.Process;
import org.mmunotifier.simulator.kernel.VmaList;

/**
 * The scenarios of the kernel's HMM selftests ({@code hmm-tests.c}) that apply to a mirror
 * without device-private memory, run against {@link DmirrorDriver} (the simulator's
 * {@code lib/test_hmm.c}). Each test is named after its C test (the display name), and asserts
 * through the device's own table and through the checker: every page a device read or write used
 * was validated against the primary under the driver lock, and the end of each test checks 0
 * violations, every subscription removed, no callback after a remove, the mm counts back to 0 and
 * every frame free. The C tests that do not apply are listed in docs/simulator.md.
 */
class HmmTestsPortTest {
    private final FrameAllocator frames = new FrameAllocator(16_384);
    private final Checker checker = new Checker(true);
    private final Stats st = new Stats();
    private final List<Process> processes = new ArrayList<>();
    private Kernel kernel;
    private DmirrorDriver drv;
    private Process p;
    private DmirrorDriver.Dmirror dev;

    /** A kernel with an address space of {@code pages}, a process, and one open device file on it. */
    private void boot(int pages) {
        kernel = new Kernel(frames, checker, pages, 16);
        drv = new DmirrorDriver(kernel);
        p = spawn();
        dev = DmirrorDriver.device(open(p));
    }

    private Process spawn() {
        Process q = kernel.spawn(new SplittableRandom(1), st);
        processes.add(q);
        return q;
    }

    private Handle open(Process q) {
        Handle h = q.open(() -> drv.open(q, st));
        assertThat(h).isNotNull();
        return h;
    }

    @AfterEach
    void teardown() {
        if (kernel == null) {
            return;
        }
        for (Process q : processes) {
            kernel.exit(q, st); // RELEASE through the tree, then the files closed: remove
        }
        drv.closeAll(st);
        MmuNotifiers.synchronize();
        assertThat(checker.violations()).as("%s", checker.samples()).isZero();
        assertThat(drv.notifiersFreed()).as("every subscription removed").isEqualTo(drv.notifiersAllocated());
        for (Process q : processes) {
            assertThat(q.mm.users()).isZero();
            assertThat(q.mm.count()).as("the subscriptions' mmgrab dropped").isZero();
        }
        assertThat(frames.freeFrames()).isEqualTo(frames.frames());
    }

    private int primaryFrame(Process q, int vp) {
        q.table.lock();
        try {
            return q.table.frameLocked(vp);
        } finally {
            q.table.unlock();
        }
    }

    /** The device table of {@code d} maps every page of {@code [from, to)} to the primary's frame. */
    private void assertMirrors(DmirrorDriver.Dmirror d, Process q, int from, int to, boolean writable) {
        for (int vp = from; vp < to; vp++) {
            assertThat(d.present(vp)).as("page %d present", vp).isTrue();
            assertThat(d.frame(vp)).as("page %d frame", vp).isEqualTo(primaryFrame(q, vp));
            assertThat(d.writable(vp)).as("page %d writable", vp).isEqualTo(writable);
        }
    }

    private void assertAbsent(DmirrorDriver.Dmirror d, int from, int to) {
        for (int vp = from; vp < to; vp++) {
            assertThat(d.present(vp)).as("page %d zapped", vp).isFalse();
        }
    }

    @Test
    @DisplayName("hmm.open_close")
    void openClose() {
        boot(256);
        assertThat(dev.subscription().isInserted()).isTrue();
        assertThat(p.mm.count()).as("the subscription's mmgrab").isGreaterThan(0);
        drv.closeAll(st);
        assertThat(dev.removed()).isTrue();
        assertThat(dev.subscription().isInserted()).isFalse();
        assertThat(drv.notifiersFreed()).isEqualTo(1);
    }

    @Test
    @DisplayName("hmm.anon_read")
    void anonRead() {
        boot(256);
        VmaList.Vma v = kernel.mmapLength(p, 16, true, st);
        for (int i = 0; i < 8; i++) { // the CPU writes half of it; the other half stays pte_none
            kernel.faultForSecondary(p, v.start() + i, true, st);
        }
        kernel.mprotectRange(p, v.start(), v.end(), false, st);
        long checks = checker.accessChecks();
        DmirrorDriver.Result r = dev.read(v.start(), v.end(), st);
        assertThat(r).isEqualTo(new DmirrorDriver.Result(0, 16, 1));
        assertMirrors(dev, p, v.start(), v.end(), false);
        assertThat(checker.accessChecks() - checks).as("every page validated").isEqualTo(16);
    }

    @Test
    @DisplayName("hmm.anon_read_prot (PROT_NONE modelled as a range with no area)")
    void anonReadProt() {
        boot(256);
        VmaList.Vma v = kernel.mmapLength(p, 16, true, st);
        kernel.munmapRange(p, v.start(), v.end(), st);
        DmirrorDriver.Result r = dev.read(v.start(), v.end(), st);
        assertThat(r.status()).isEqualTo(Kernel.HMM_EFAULT);
        assertThat(r.pages()).isZero();
        assertAbsent(dev, v.start(), v.end());
    }

    @Test
    @DisplayName("hmm.anon_write")
    void anonWrite() {
        boot(256);
        VmaList.Vma v = kernel.mmapLength(p, 16, true, st);
        DmirrorDriver.Result r = dev.write(v.start(), v.end(), st);
        assertThat(r).isEqualTo(new DmirrorDriver.Result(0, 16, 1));
        assertMirrors(dev, p, v.start(), v.end(), true);
        // A second write uses the table: no fault.
        assertThat(dev.write(v.start(), v.end(), st)).isEqualTo(new DmirrorDriver.Result(0, 16, 0));
    }

    @Test
    @DisplayName("hmm.anon_write_prot")
    void anonWriteProt() {
        boot(256);
        VmaList.Vma v = kernel.mmapLength(p, 16, false, st);
        assertThat(dev.read(v.start(), v.end(), st)).isEqualTo(new DmirrorDriver.Result(0, 16, 1));
        DmirrorDriver.Result w = dev.write(v.start(), v.end(), st);
        assertThat(w.status()).as("a device write to a read-only mapping fails").isEqualTo(Kernel.HMM_EFAULT);
        assertThat(w.pages()).isZero();
        assertMirrors(dev, p, v.start(), v.end(), false);
        kernel.mprotectRange(p, v.start(), v.end(), true, st);
        assertThat(dev.write(v.start(), v.end(), st)).isEqualTo(new DmirrorDriver.Result(0, 16, 1));
        assertMirrors(dev, p, v.start(), v.end(), true);
    }

    @Test
    @DisplayName("hmm.anon_write_child")
    void anonWriteChild() {
        boot(256);
        VmaList.Vma v = kernel.mmapLength(p, 16, true, st);
        assertThat(dev.write(v.start(), v.end(), st).status()).isZero();
        int[] parent = new int[16];
        for (int i = 0; i < 16; i++) {
            parent[i] = primaryFrame(p, v.start() + i);
        }
        Process child = kernel.fork(p, st);
        processes.add(child);
        assertAbsent(dev, v.start(), v.end()); // fork write-protected the parent: its invalidation zapped the mirror
        DmirrorDriver.Dmirror cdev = DmirrorDriver.device(open(child));
        assertThat(cdev.write(v.start(), v.end(), st)).isEqualTo(new DmirrorDriver.Result(0, 16, 1));
        assertMirrors(cdev, child, v.start(), v.end(), true);
        for (int i = 0; i < 16; i++) {
            assertThat(primaryFrame(child, v.start() + i)).as("the child's copy").isNotEqualTo(parent[i]);
            assertThat(primaryFrame(p, v.start() + i)).as("the parent's page").isEqualTo(parent[i]);
        }
        // The parent's mirror is exact: its own pages, read-only until the parent writes.
        assertThat(dev.read(v.start(), v.end(), st).status()).isZero();
        assertMirrors(dev, p, v.start(), v.end(), false);
        assertThat(dev.write(v.start(), v.end(), st).status()).isZero();
        assertMirrors(dev, p, v.start(), v.end(), true);
        for (int i = 0; i < 16; i++) {
            assertThat(dev.frame(v.start() + i)).as("mapped once now: reused, not copied").isEqualTo(parent[i]);
        }
    }

    @Test
    @DisplayName("hmm.anon_write_huge (a transparent huge page)")
    void anonWriteHuge() {
        boot(4096);
        VmaList.Vma v = kernel.mmapHuge(p, true, st);
        assertThat(v).isNotNull();
        assertThat(dev.write(v.start(), v.end(), st)).isEqualTo(new DmirrorDriver.Result(0, 512, 1));
        p.table.lock();
        try {
            assertThat(p.table.pmdLocked(PageTable.blockOf(v.start()))).as("mapped huge").isEqualTo(PageTable.PMD_HUGE);
        } finally {
            p.table.unlock();
        }
        assertMirrors(dev, p, v.start(), v.end(), true);
        kernel.madviseDontneedRange(p, v.start(), v.end(), st);
        assertAbsent(dev, v.start(), v.end());
        assertThat(dev.read(v.start(), v.end(), st).status()).isZero();
        assertMirrors(dev, p, v.start(), v.end(), true);
    }

    @Test
    @DisplayName("munmap: the mirror is zapped over the range, and a device read there fails")
    void readWriteAfterMunmap() {
        boot(256);
        VmaList.Vma v = kernel.mmapLength(p, 16, true, st);
        int s = v.start();
        assertThat(dev.write(s, s + 16, st).status()).isZero();
        long inv = dev.invalidations();
        kernel.munmapRange(p, s + 4, s + 8, st);
        assertThat(dev.invalidations()).isGreaterThan(inv);
        assertAbsent(dev, s + 4, s + 8);
        assertMirrors(dev, p, s, s + 4, true);
        assertMirrors(dev, p, s + 8, s + 16, true);
        assertThat(dev.read(s + 4, s + 8, st).status()).isEqualTo(Kernel.HMM_EFAULT);
        assertThat(dev.write(s, s + 16, st)).as("stops at the hole").isEqualTo(new DmirrorDriver.Result(Kernel.HMM_EFAULT, 4, 1));
        assertThat(dev.read(s + 8, s + 16, st)).isEqualTo(new DmirrorDriver.Result(0, 8, 0));
    }

    @Test
    @DisplayName("mprotect: write-protected pages are zapped; a device write fails, a read refills them")
    void readWriteAfterMprotect() {
        boot(256);
        VmaList.Vma v = kernel.mmapLength(p, 16, true, st);
        int s = v.start();
        assertThat(dev.write(s, s + 16, st).status()).isZero();
        int f0 = dev.frame(s);
        kernel.mprotectRange(p, s, s + 8, false, st);
        assertAbsent(dev, s, s + 8);
        assertMirrors(dev, p, s + 8, s + 16, true);
        assertThat(dev.write(s, s + 8, st).status()).isEqualTo(Kernel.HMM_EFAULT);
        assertThat(dev.read(s, s + 8, st)).isEqualTo(new DmirrorDriver.Result(0, 8, 1));
        assertMirrors(dev, p, s, s + 8, false);
        assertThat(dev.frame(s)).as("mprotect keeps the frames").isEqualTo(f0);
    }

    @Test
    @DisplayName("MADV_DONTNEED: the mirror is zapped; a device read faults in fresh pages")
    void readWriteAfterDontneed() {
        boot(256);
        VmaList.Vma v = kernel.mmapLength(p, 16, true, st);
        int s = v.start();
        assertThat(dev.write(s, s + 16, st).status()).isZero();
        long old = dev.entry(s);
        kernel.madviseDontneedRange(p, s, s + 8, st);
        assertAbsent(dev, s, s + 8);
        assertThat(primaryFrame(p, s)).as("the primary dropped it too").isNegative();
        assertThat(dev.read(s, s + 16, st)).isEqualTo(new DmirrorDriver.Result(0, 16, 1));
        assertMirrors(dev, p, s, s + 8, true); // a new anonymous page in a writable area is writable
        assertThat(dev.entry(s)).as("a new page (or the old frame at a new generation)").isNotEqualTo(old);
    }

    @Test
    @DisplayName("hmm.anon_read_multiple")
    void anonReadMultiple() {
        boot(256);
        for (int round = 0; round < 10; round++) {
            VmaList.Vma v = kernel.mmapLength(p, 16, true, st);
            assertThat(dev.read(v.start(), v.end(), st)).isEqualTo(new DmirrorDriver.Result(0, 16, 1));
            assertMirrors(dev, p, v.start(), v.end(), true);
            kernel.munmapRange(p, v.start(), v.end(), st);
            assertAbsent(dev, v.start(), v.end());
        }
    }

    @Test
    @DisplayName("hmm2.double_map (two devices, system memory only)")
    void doubleMap() {
        boot(256);
        DmirrorDriver.Dmirror dev1 = DmirrorDriver.device(open(p));
        VmaList.Vma v = kernel.mmapLength(p, 16, true, st);
        assertThat(dev.read(v.start(), v.end(), st).status()).isZero();
        assertThat(dev1.read(v.start(), v.end(), st)).as("device 0 faulted them in").isEqualTo(new DmirrorDriver.Result(0, 16, 1));
        assertMirrors(dev, p, v.start(), v.end(), true);
        assertMirrors(dev1, p, v.start(), v.end(), true);
        kernel.madviseDontneedRange(p, v.start(), v.end(), st);
        assertAbsent(dev, v.start(), v.end());
        assertAbsent(dev1, v.start(), v.end());
    }

    @Test
    @DisplayName("mirror of a large range (huge pages included), then exit: RELEASE, then remove")
    void largeRange() {
        boot(16_384);
        VmaList.Vma v = kernel.mmapLength(p, 2048, true, st);
        DmirrorDriver.Result r = dev.write(v.start(), v.end(), st);
        assertThat(r).isEqualTo(new DmirrorDriver.Result(0, 2048, 1));
        assertMirrors(dev, p, v.start(), v.end(), true);
        assertThat(dev.validEntries()).isEqualTo(2048);
        kernel.exit(p, st);
        assertThat(dev.releases()).as("RELEASE through the tree at exit").isEqualTo(1);
        assertThat(dev.removed()).as("removed when exit closed the file").isTrue();
        assertThat(dev.validEntries()).isZero();
    }

    @Test
    @DisplayName("the fault loop retries when an invalidation runs between the range fault and the lock")
    void faultRetries_whenReadRetrySaysSo() {
        boot(256);
        VmaList.Vma v = kernel.mmapLength(p, 4, true, st);
        int[] left = {1};
        drv.afterRangeFault = () -> {
            if (left[0]-- > 0) {
                kernel.madviseDontneedRange(p, v.start(), v.end(), st); // the walked frames are freed
            }
        };
        assertThat(dev.read(v.start(), v.end(), st)).isEqualTo(new DmirrorDriver.Result(0, 4, 1));
        assertThat(dev.retries()).as("readRetry refused the first install").isEqualTo(1);
        assertMirrors(dev, p, v.start(), v.end(), true);
        assertThat(dev.read(v.start(), v.end(), st).status()).isZero(); // validated by the checker
    }

    @Test
    @DisplayName("the fault loop is bounded: an invalidation after every walk ends it busy, table untouched")
    void faultLoop_givesUpBusy_afterMaxTries() {
        boot(256);
        VmaList.Vma v = kernel.mmapLength(p, 4, true, st);
        drv.afterRangeFault = () -> kernel.madviseDontneedRange(p, v.start(), v.end(), st);
        DmirrorDriver.Result r = dev.read(v.start(), v.end(), st);
        assertThat(r).isEqualTo(new DmirrorDriver.Result(Kernel.HMM_BUSY, 0, 1));
        assertThat(dev.retries()).isEqualTo(DmirrorDriver.MAX_FAULT_TRIES);
        assertThat(drv.timeouts()).isEqualTo(1);
        assertAbsent(dev, v.start(), v.end());
        drv.afterRangeFault = null;
        assertThat(dev.read(v.start(), v.end(), st).status()).isZero();
    }

    @Test
    @DisplayName("hmm.anon_teardown: many threads read and write while another unmaps and remaps")
    void anonTeardown_manyThreadsFaultWhileAnotherUnmaps() throws Exception {
        boot(1024);
        VmaList.Vma v = kernel.mmapLength(p, 64, true, st);
        int s = v.start();
        List<Thread> threads = new ArrayList<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        CountDownLatch start = new CountDownLatch(1);
        List<DmirrorDriver.Dmirror> devs = List.of(dev, DmirrorDriver.device(open(p)));
        int[] ok = new int[4];
        for (int t = 0; t < 4; t++) {
            int id = t;
            threads.add(new Thread(() -> {
                Stats mine = new Stats();
                SplittableRandom rng = new SplittableRandom(id);
                assertThat(p.tryPin()).isTrue();
                try {
                    start.await();
                    for (int i = 0; i < 300; i++) {
                        int from = s + rng.nextInt(64);
                        int to = Math.min(s + 64, from + 1 + rng.nextInt(16));
                        DmirrorDriver.Dmirror d = devs.get(id & 1);
                        DmirrorDriver.Result r = rng.nextBoolean() ? d.read(from, to, mine) : d.write(from, to, mine);
                        assertThat(r.status()).isIn(0, Kernel.HMM_EFAULT, Kernel.HMM_BUSY);
                        ok[id] += r.status() == 0 ? 1 : 0;
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                } finally {
                    p.unpin(kernel, mine);
                }
            }, "hmm-faulter-" + t));
        }
        threads.add(new Thread(() -> {
            Stats mine = new Stats();
            assertThat(p.tryPin()).isTrue();
            try {
                start.await();
                for (int i = 0; i < 100; i++) {
                    switch (i % 4) {
                        case 0 -> kernel.munmapRange(p, s + 32, s + 64, mine);
                        case 1 -> kernel.mmapLength(p, 32, true, mine); // maybe back at s + 32, maybe not
                        case 2 -> kernel.madviseDontneedRange(p, s, s + 32, mine);
                        default -> kernel.mprotectRange(p, s, s + 16, i % 8 == 3 ? false : true, mine);
                    }
                }
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
            } finally {
                p.unpin(kernel, mine);
            }
        }, "hmm-unmapper"));
        threads.forEach(Thread::start);
        start.countDown();
        for (Thread t : threads) {
            t.join(TimeUnit.SECONDS.toMillis(60));
            assertThat(t.isAlive()).as(t.getName()).isFalse();
        }
        assertThat(failure.get()).isNull();
        assertThat(ok[0] + ok[1] + ok[2] + ok[3]).as("some reads and writes succeeded").isPositive();
        assertThat(checker.accessChecks()).isPositive();
    }

    @Test
    @DisplayName("hmm.anon_teardown: the process exits and closes the file while a device fault is in flight")
    void teardownWhileAFaultIsInFlight() throws Exception {
        boot(256);
        VmaList.Vma v = kernel.mmapLength(p, 16, true, st);
        CountDownLatch inFault = new CountDownLatch(1);
        CountDownLatch go = new CountDownLatch(1);
        drv.afterRangeFault = () -> {
            inFault.countDown();
            try {
                go.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        AtomicReference<DmirrorDriver.Result> result = new AtomicReference<>();
        assertThat(p.tryPin()).isTrue(); // the ioctl's mmget_not_zero
        Thread faulter = new Thread(() -> {
            Stats mine = new Stats();
            try {
                result.set(dev.write(v.start(), v.end(), mine));
            } finally {
                p.unpin(kernel, mine); // the last pin: mmput, RELEASE through the tree
            }
        }, "hmm-faulter");
        faulter.start();
        assertThat(inFault.await(10, TimeUnit.SECONDS)).isTrue();
        Thread exiter = new Thread(() -> kernel.exit(p, new Stats()), "hmm-exit");
        exiter.start();
        exiter.join(200);
        assertThat(exiter.isAlive()).as("close waits for the ioctl in flight").isTrue();
        assertThat(dev.removed()).isFalse();
        go.countDown();
        faulter.join(10_000);
        exiter.join(10_000);
        assertThat(faulter.isAlive() || exiter.isAlive()).isFalse();
        assertThat(result.get()).isEqualTo(new DmirrorDriver.Result(0, 16, 1));
        assertThat(dev.removed()).isTrue();
        assertThat(dev.releases()).as("RELEASE came before or never after the remove").isLessThanOrEqualTo(1);
        assertThat(dev.validEntries()).isZero();
        assertThat(dev.read(v.start(), v.end(), st).status()).as("a closed file").isEqualTo(DmirrorDriver.CLOSED);
    }

    @Test
    @DisplayName("hmm2.snapshot (system memory: unmapped, none, read-only and read-write pages)")
    void snapshot() {
        boot(256);
        VmaList.Vma rw = kernel.mmapLength(p, 8, true, st);
        VmaList.Vma ro = kernel.mmapLength(p, 8, false, st);
        for (int i = 0; i < 4; i++) {
            kernel.faultForSecondary(p, rw.start() + i, true, st);
            kernel.faultForSecondary(p, ro.start() + i, false, st);
        }
        kernel.munmapRange(p, rw.start() + 6, rw.end(), st);
        int mmCount = p.mm.count();
        long checks = checker.accessChecks();
        long[] a = new long[8];
        long[] b = new long[8];
        assertThat(dev.snapshot(rw.start(), rw.end(), a, st)).isZero();
        assertThat(dev.snapshot(ro.start(), ro.end(), b, st)).isZero();
        for (int i = 0; i < 4; i++) {
            assertThat(Mirror.frame(a[i])).isEqualTo(primaryFrame(p, rw.start() + i));
            assertThat(Mirror.writable(a[i])).as("read-write").isTrue();
            assertThat(Mirror.frame(b[i])).isEqualTo(primaryFrame(p, ro.start() + i));
            assertThat(Mirror.writable(b[i])).as("read-only").isFalse();
        }
        for (int i = 4; i < 8; i++) {
            assertThat(a[i]).as("none (4, 5) or unmapped (6, 7): nothing faulted in").isZero();
            assertThat(b[i]).isZero();
            assertThat(primaryFrame(p, ro.start() + i)).isNegative();
        }
        assertThat(checker.accessChecks() - checks).as("each entry read checked under the lock").isEqualTo(8);
        assertThat(dev.validEntries()).as("a snapshot leaves the device table alone").isZero();
        assertThat(drv.snapshotSubscriptionsInserted()).isZero();
        assertThat(p.mm.count()).as("the temporary subscriptions removed").isEqualTo(mmCount);
    }

    @Test
    @DisplayName("snapshot of a range of several chunks, one temporary subscription at a time")
    void snapshot_severalChunks() {
        boot(2048);
        VmaList.Vma v = kernel.mmapLength(p, 200, true, st);
        assertThat(dev.write(v.start(), v.end(), st).status()).isZero();
        long[] out = new long[200];
        assertThat(dev.snapshot(v.start(), v.end(), out, st)).isZero();
        for (int i = 0; i < 200; i++) {
            assertThat(out[i]).as("page %d", i).isEqualTo(dev.entry(v.start() + i) & ~Mirror.YOUNG);
        }
        assertThat(drv.snapshotSubscriptionsInserted()).isZero();
    }

    @Test
    @DisplayName("userptr: a buffer object's subscription is called only for the invalidations that overlap its area")
    void userptr_receivesOnlyTheInvalidationsThatOverlapItsArea() {
        kernel = new Kernel(frames, checker, 256, 16);
        drv = DmirrorDriver.userptr(kernel);
        p = spawn();
        dev = DmirrorDriver.device(open(p));
        int first = dev.first;
        int end = dev.end;
        assertThat(dev.subscription().start()).isEqualTo((long) first << 12);
        assertThat(dev.subscription().last()).isEqualTo(((long) end << 12) - 1);
        VmaList.Vma other = kernel.mmapLength(p, 8, true, st);
        assertThat(other.start() >= end || other.end() <= first).as("a new area elsewhere").isTrue();
        long before = dev.invalidations();
        kernel.madviseDontneedRange(p, other.start(), other.end(), st);
        assertThat(dev.invalidations()).as("no callback for a range it does not overlap").isEqualTo(before);
        Handle h = drv.open.iterator().next();
        assertThat(drv.access(h, 12_345, false, st)).as("an access lands in the buffer object").isTrue();
        kernel.madviseDontneedRange(p, first, end, st);
        assertThat(dev.invalidations()).isEqualTo(before + 1);
        assertThat(dev.validEntries()).isZero();
    }

    @Test
    @DisplayName("a non-blockable invalidation (the OOM reaper's) is refused while the driver lock is busy")
    void nonblockableInvalidation_isRefusedWhileTheDriverLockIsBusy() throws Exception {
        boot(256);
        VmaList.Vma v = kernel.mmapLength(p, 4, true, st);
        assertThat(dev.write(v.start(), v.end(), st).status()).isZero();
        var range = new org.mmunotifier.mm.MmuNotifierRange(p.mm, (long) v.start() << 12, (long) v.end() << 12,
                org.mmunotifier.mm.MmuNotifierEvent.UNMAP, false);
        dev.lock.lock();
        try {
            AtomicReference<Boolean> answer = new AtomicReference<>();
            Thread t = new Thread(() -> answer.set(dev.invalidate(dev.sub, range, 3)));
            t.start();
            t.join();
            assertThat(answer.get()).as("tryLock failed: refused").isFalse();
        } finally {
            dev.lock.unlock();
        }
        assertMirrors(dev, p, v.start(), v.end(), true); // refused: nothing zapped
    }
}
