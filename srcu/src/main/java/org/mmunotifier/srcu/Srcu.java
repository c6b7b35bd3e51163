package org.mmunotifier.srcu;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.invoke.VarHandle;
import java.lang.ref.WeakReference;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * A sleepable read-copy-update domain: Linux's {@code struct srcu_struct} for Java.
 *
 * <p>Readers bracket their accesses to shared data with {@link #readLock()} and
 * {@link #readUnlock(int)}. Readers may nest, block, sleep and park, and they never wait for
 * updaters. An updater that has made an object unreachable calls {@link #synchronize()} to wait
 * until every reader that could still hold it has left, or {@link #callSrcu(Runnable)} to have a
 * callback run after that point. Domains are independent: readers of one never delay another's
 * grace periods.
 *
 * <pre>{@code
 * Srcu srcu = new Srcu("config");
 * // reader
 * int idx = srcu.readLock();
 * try { use(current); } finally { srcu.readUnlock(idx); }
 * // updater
 * Config old = current; current = next;   // publish (volatile or release store)
 * srcu.synchronize();                     // every reader that could see 'old' has left
 * old.close();
 * }</pre>
 *
 * <p><b>Threads:</b> {@code readLock}/{@code readUnlock} must be called on the same thread (the
 * pairing is checked per thread). A read section that starts on one thread and ends on another
 * uses {@link #downRead()} and {@link #upRead(int)} (Linux's {@code srcu_down_read} and
 * {@code srcu_up_read}).
 */
public final class Srcu implements AutoCloseable {
    /*
     * Overview
     * --------
     * The design is Linux's Tree SRCU read side with the classic-SRCU "the caller drives the grace
     * period" update side (docs/srcu.md has the long form):
     *
     *   - Readers count themselves in on lock[ctrIdx & 1] and out on unlock[idx]; only sums mean
     *     anything. Two reader flavours (ReaderFlavour) keep these counts:
     *       ONE_FENCE (default, platform threads): the thread's Reader is also its slot
     *         (ReaderCounters.Slot), written by that thread alone: a volatile store in, then a
     *         volatile read of gpSeq; a release store out.
     *       TWO_RMW (virtual threads, downRead/upRead, and domains built so internally):
     *         per-stripe counters in ReaderCounters, one getAndAdd in and one out.
     *     The scan sums both, plus the retired counts of slots whose threads died.
     *   - A grace period (runGracePeriod, one at a time under gpLock) opens with an RMW on gpSeq,
     *     prunes dead threads' slots, waits for the inactive index to drain, flips ctrIdx, then
     *     waits for the formerly active index to drain. The flip is what makes a stream of new
     *     readers unable to starve the updater: they count on the other index.
     *   - gpSeq numbers grace periods as Linux's rcu_seq does: even = idle, odd = a grace period
     *     is running; it advances by 2 per grace period. snapshot() gives the value gpSeq must
     *     reach for a grace period that started after the call.
     *   - synchronize() takes gpLock; if a grace period that started after its snapshot has
     *     already ended by then (another caller ran it) it returns, else it runs one itself.
     *     Concurrent callers therefore share grace periods.
     *   - CallbackQueue batches callSrcu() callbacks behind grace periods on a domain thread.
     *
     * Memory ordering
     * ---------------
     * Updater (W): w1 unpublish; g0 the grace period's opening getAndAdd on gpSeq (w1 happens-
     * before it through snapshot()'s RMW); the scans; w3 reclaim after synchronize returns.
     * One-fence reader (R): r1 volatile read of ctrIdx; r2 volatile store of its slot's lock
     * count; r2' volatile read of gpSeq; r3 the section's reads; r4 release store of its unlock
     * count. In the synchronization order, either r2' comes after g0 (g0 synchronizes-with r2',
     * so w1 happens-before r3 and R cannot see the retired object), or r2 (before r2' in program
     * order) comes before g0 and so before both scans' volatile reads of the slot, which count R;
     * equal sums then mean the acquire read of R's unlock count saw r4, so r3 happens-before w3.
     * Two-RMW reader: its lock getAndAdd pairs with the scan's getAndAdd(0) on the same counter
     * (ReaderCounters.readersGone) the same way, without gpSeq. Sums are unlock-first in both.
     * The fullFences around the flip bound how many readers can still count on the old index
     * after the flip (Linux's barriers E and D); safety does not rest on them.
     *
     * Closed state
     * ------------
     * close() sets CLOSED in ctrIdx (under gpLock, so no flip races with it). readLock() tests
     * the sign of the ctrIdx it had to read anyway: a closed domain costs the read side nothing.
     */

    private static final int CLOSED = Integer.MIN_VALUE;
    private static final int SPIN_TRIES = 16;
    private static final int YIELD_TRIES = 32;
    private static final long MIN_PARK_NANOS = 50_000L;
    private static final long MAX_PARK_NANOS = 1_000_000L;

    private final String name;
    /** Everything a read section touches; see {@link ReadSide} for why it is an object apart. */
    private final ReadSide rs;
    private final ThreadLocal<Reader> readers;
    /**
     * A cache in front of {@link #readers}, indexed by thread id: {@code readLock}/{@code readUnlock}
     * find the calling platform thread's Reader with a few loads instead of a ThreadLocal hash
     * probe (which costs about as much as the rest of a read pair). Guard: none, deliberately
     * racy. Each entry is written only by the Reader's owner (plain store) and read by any thread
     * (plain load); a reader of the array uses an entry only if its final {@code owner} is the
     * calling thread, and final-field semantics make {@code owner} right in any Reader reached
     * through a race (the Reader is fully constructed before its owner stores it here). A miss,
     * a collision or another thread's entry falls back to the ThreadLocal. Virtual threads never
     * enter it (they must leave no state behind); a dead thread's entry stays until another
     * thread with the same index overwrites it, at most {@value #READER_CACHE} per domain.
     */
    private final Reader[] readerCache = new Reader[READER_CACHE];
    private static final int READER_CACHE = 256;
    /**
     * FENCE_FREE only: the heavy barrier each scan issues before it reads the counters
     * ({@link Membarrier#barrier()}; tests may give another); null for the other flavours.
     */
    private final Runnable heavyBarrier;
    private final CallbackQueue callbacks;
    /** Serializes grace periods and close(); its holder is the only writer of rs.ctrIdx and rs.gpSeq. */
    private final ReentrantLock gpLock = new ReentrantLock();
    /** Threads inside synchronizeExpedited(): the running grace period stops sleeping. */
    private final AtomicInteger expeditedWaiters = new AtomicInteger();
    /** Outstanding downRead() sections per index, so that an unmatched upRead() is caught. */
    private final AtomicLong[] downReaders = {new AtomicLong(), new AtomicLong()};
    /**
     * The first park of a waiting updater, doubled up to {@link #MAX_PARK_NANOS}: the backstop
     * behind the readers' wake. Tests set it long so that only a wake can end the wait.
     */
    private volatile long minParkNanos = MIN_PARK_NANOS;
    /** Reader-counter scans so far, for JFR's GracePeriod event; written under gpLock. */
    private int scans;

    /**
     * Creates a domain whose callbacks run on a daemon thread of its own, named {@code name}.
     *
     * @param name names the domain in messages and names its callback thread
     * @throws NullPointerException if {@code name} is null
     */
    public Srcu(String name) {
        this(builder(name));
    }

    /**
     * Creates a domain whose callback batches run on {@code callbackExecutor}.
     *
     * @param name names the domain in messages and names its grace-period thread
     * @param callbackExecutor runs batches of callbacks; one batch at a time, in queue order
     * @throws NullPointerException if an argument is null
     */
    public Srcu(String name, Executor callbackExecutor) {
        this(builder(name).callbackExecutor(callbackExecutor));
    }

    private Srcu(Builder b) {
        this(b, new ReaderCounters());
    }

    /** For tests: a domain over the given (possibly deliberately broken) counters. */
    Srcu(Builder b, ReaderCounters counters) {
        this.name = b.name;
        FlavourChoice flavour = chooseFlavour(b.flavour, b.heavyBarrier);
        this.rs = new ReadSide(this, counters, flavour);
        this.heavyBarrier = rs.fenceFree ? (b.heavyBarrier != null ? b.heavyBarrier : Membarrier::barrier) : null;
        this.readers = ThreadLocal.withInitial(this::newReader);
        this.callbacks = new CallbackQueue(this, b.executor, b.errorHandler);
    }

    /**
     * The system property that sets the flavour of domains whose builder names none: one of the
     * {@link ReaderFlavour} names. Unset: {@link ReaderFlavour#FENCE_FREE} where available, else
     * {@link ReaderFlavour#ONE_FENCE}.
     */
    public static final String FLAVOUR_PROPERTY = "org.mmunotifier.srcu.readerFlavour";

    /**
     * Picks the flavour: the builder's, else the system property's, else the best available.
     *
     * @throws IllegalArgumentException if the property names no flavour
     * @throws IllegalStateException if FENCE_FREE is asked for where it is not available
     */
    private static FlavourChoice chooseFlavour(ReaderFlavour requested, Runnable testBarrier) {
        String why = "requested by the builder";
        if (requested == null) {
            String p = System.getProperty(FLAVOUR_PROPERTY);
            if (p != null) {
                try {
                    requested = ReaderFlavour.valueOf(p.trim());
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("system property " + FLAVOUR_PROPERTY + "=" + p
                            + " names no reader flavour; use one of " + java.util.Arrays.toString(ReaderFlavour.values()));
                }
                why = "requested by the system property " + FLAVOUR_PROPERTY;
            }
        }
        String fenceFreeBlocker = testBarrier != null ? null : FenceFreeSupport.blocker();
        if (requested == null) {
            if (fenceFreeBlocker == null) {
                return new FlavourChoice(ReaderFlavour.FENCE_FREE, "the default where available, and it is: "
                        + FenceFreeSupport.describe() + "; readers count in with an opaque store, and each scan of "
                        + "the updater issues the membarrier");
            }
            return new FlavourChoice(ReaderFlavour.ONE_FENCE, "the default, since the fence-free reader is not "
                    + "available here: " + fenceFreeBlocker + "; a platform thread counts in on a slot of its own "
                    + "with one full fence and out with a release store");
        }
        if (requested == ReaderFlavour.FENCE_FREE && fenceFreeBlocker != null) {
            throw new IllegalStateException("reader flavour FENCE_FREE " + why + " is not available here: "
                    + fenceFreeBlocker);
        }
        return new FlavourChoice(requested, why + (testBarrier != null ? " (with a test's heavy barrier)" : ""));
    }

    /** The calling thread's Reader: {@link #readerCache} first, then the ThreadLocal. */
    @SuppressWarnings("deprecation") // Thread.getId(): threadId() is JDK 19+
    private Reader current() {
        Thread t = Thread.currentThread();
        int i = (int) t.getId() & (READER_CACHE - 1);
        Reader r = readerCache[i];
        if (r != null && r.owner == t) {
            return r;
        }
        return currentSlow(t, i);
    }

    private Reader currentSlow(Thread t, int i) {
        Reader r = readers.get();
        if (!isVirtual(t)) { // a platform thread: cache it (virtual threads keep no state here)
            readerCache[i] = r;
        }
        return r;
    }

    /** The calling thread's first use of this domain: its Reader, registered as a slot if it uses one. */
    private Reader newReader() {
        Thread t = Thread.currentThread();
        boolean slotted = rs.flavour.flavour() != ReaderFlavour.TWO_RMW && !isVirtual(t);
        Reader r = new Reader(rs, t, rs.counters.assignStripe(), slotted);
        if (slotted) {
            rs.counters.register(r); // before the first count: every later scan sees the slot
        }
        return r;
    }

    /**
     * Starts building a domain with options.
     *
     * @param name names the domain in messages and names its callback thread
     * @return a builder
     * @throws NullPointerException if {@code name} is null
     */
    public static Builder builder(String name) {
        return new Builder(name);
    }

    /** Options of a domain. Not thread-safe; build on one thread. */
    public static final class Builder {
        private final String name;
        private Executor executor;
        private Consumer<Throwable> errorHandler;
        private ReaderFlavour flavour;
        private Runnable heavyBarrier;

        private Builder(String name) {
            this.name = Objects.requireNonNull(name, "name must not be null");
        }

        /**
         * Runs callback batches on {@code executor} instead of the domain's own thread. The domain
         * hands it one batch at a time and waits for that batch to finish before the next, so
         * callbacks still run one at a time in queue order. A rejected batch runs on the domain
         * thread (logged).
         *
         * @param executor the executor
         * @return this builder
         * @throws NullPointerException if {@code executor} is null
         */
        public Builder callbackExecutor(Executor executor) {
            this.executor = Objects.requireNonNull(executor, "callbackExecutor must not be null");
            return this;
        }

        /**
         * Also reports every exception thrown by a callback to {@code handler} (it is always
         * logged through {@link System.Logger}). The handler runs on the callback thread.
         *
         * @param handler the handler
         * @return this builder
         * @throws NullPointerException if {@code handler} is null
         */
        public Builder callbackErrorHandler(Consumer<Throwable> handler) {
            this.errorHandler = Objects.requireNonNull(handler, "callbackErrorHandler must not be null");
            return this;
        }

        /**
         * Runs {@code f} instead of the default (see {@link Srcu#flavour()}): to compare the
         * flavours, or to keep the membarrier's interrupts away from other CPUs (ask for
         * {@link ReaderFlavour#ONE_FENCE}). The system property {@link Srcu#FLAVOUR_PROPERTY} sets
         * the same for every domain built without this call.
         *
         * @param f the flavour
         * @return this builder
         * @throws NullPointerException if {@code f} is null
         */
        public Builder readerFlavour(ReaderFlavour f) {
            this.flavour = Objects.requireNonNull(f, "readerFlavour must not be null");
            return this;
        }

        /**
         * Tests: the fence-free flavour with {@code barrier} as the scans' heavy barrier (a
         * sequentially consistent model checker needs none; a count of calls checks where the
         * barrier is issued), available on every JDK.
         */
        Builder fenceFreeWithBarrier(Runnable barrier) {
            this.flavour = ReaderFlavour.FENCE_FREE;
            this.heavyBarrier = Objects.requireNonNull(barrier, "barrier must not be null");
            return this;
        }

        /**
         * Creates the domain.
         *
         * @return a new domain
         * @throws IllegalStateException if {@link ReaderFlavour#FENCE_FREE} was asked for where it
         *     is not available (the message says why)
         * @throws IllegalArgumentException if {@link Srcu#FLAVOUR_PROPERTY} names no flavour
         */
        public Srcu build() {
            return new Srcu(this);
        }
    }

    /**
     * A thread's handle on this domain's read side (liburcu's registered reader thread): the same
     * read sections as {@link Srcu#readLock()}/{@link Srcu#readUnlock(int)}, without their
     * per-call {@code ThreadLocal} lookup. {@link Srcu#reader()} returns the calling thread's
     * handle; it belongs to that thread, and using it on another throws.
     *
     * <p>The handle also carries its thread's {@link ExecutionContext}, so that a library that
     * enters a read section and pushes a frame (as the MMU notifiers do around every walk) finds
     * both with one lookup.
     */
    public static final class Reader extends ReaderCounters.Slot {
        /*
         * Guards: the slot counters (superclass) are written by owner only (see Slot). nest0 and
         * nest1 (this thread's open sections per index, for a reader without a slot) are confined
         * to owner; a slotted reader derives them from its own counters instead. Everything else
         * is final.
         */
        /** The domain's read side, not the domain: see {@link ReadSide}. */
        private final ReadSide side;
        private final ExecutionContext context;
        final int stripe;
        /** Whether this reader counts on its slot (one-fence) or on the stripes (two-RMW). */
        final boolean slotted;
        int nest0;
        int nest1;

        Reader(ReadSide side, Thread owner, int stripe, boolean slotted) {
            super(owner);
            this.side = side;
            this.context = ExecutionContext.current();
            this.stripe = stripe;
            this.slotted = slotted;
        }

        /**
         * {@link Srcu#readLock()} on this handle's domain.
         *
         * @return the index to pass to {@link #unlock(int)}: 0 or 1
         * @throws IllegalStateException if the domain is closed, or if the calling thread is not
         *     the handle's thread; nothing changes
         */
        public int lock() {
            checkOwner("lock");
            return side.lock(this, "readLock");
        }

        /**
         * {@link Srcu#readUnlock(int)} on this handle's domain.
         *
         * @param idx the value returned by the matching {@link #lock()} (or {@code readLock()})
         * @throws IllegalStateException as {@link Srcu#readUnlock(int)}, or if the calling thread
         *     is not the handle's thread; nothing changes
         */
        public void unlock(int idx) {
            checkOwner("unlock");
            side.unlock(this, idx);
        }

        /** @return the handle thread's execution context ({@link ExecutionContext#current()} there) */
        public ExecutionContext context() {
            return context;
        }

        /**
         * The handle's domain. A handle does not keep its domain reachable (so that a dropped
         * domain is not kept alive by every thread that read it): this works while anyone still
         * holds the domain. A handle's {@link #lock()} and {@link #unlock(int)} need only the
         * read side and keep working after that; they then guard nothing, since no one is left to
         * wait for a grace period.
         *
         * @return the domain
         * @throws IllegalStateException if the domain has been garbage collected
         */
        public Srcu domain() {
            Srcu d = side.domain.get();
            if (d == null) {
                throw new IllegalStateException("the SRCU domain '" + side.name + "' of " + this
                        + " is no longer reachable (garbage collected)");
            }
            return d;
        }

        /**
         * The flavour this thread's {@code readLock} sections use: the domain's, except that a
         * virtual thread always uses {@link ReaderFlavour#TWO_RMW}.
         *
         * @return the flavour of this handle's read sections
         */
        public ReaderFlavour flavour() {
            return slotted ? side.flavour.flavour() : ReaderFlavour.TWO_RMW;
        }

        /** Sections this thread holds open on this domain. Owner only. */
        long openSections() {
            return slotted ? openOn(0) + openOn(1) : (long) nest0 + nest1;
        }

        private void checkOwner(String op) {
            if (Thread.currentThread() != owner) {
                throw new IllegalStateException("Srcu.Reader." + op + "() of domain '" + side.name
                        + "' called on thread '" + Thread.currentThread().getName() + "'; the handle belongs to thread '"
                        + owner.getName() + "' (each thread gets its own from Srcu.reader())");
            }
        }

        @Override
        public String toString() {
            return "Srcu.Reader[domain=" + side.name + ", thread=" + owner.getName() + ", sections="
                    + openSections() + "]";
        }
    }

    /** @return the name given at construction */
    public String name() {
        return name;
    }

    /**
     * Which reader flavour this domain's platform threads use, and why (virtual threads always
     * use {@link ReaderFlavour#TWO_RMW}; {@link Reader#flavour()} answers per thread).
     *
     * @return the flavour and the reason it was chosen
     */
    public FlavourChoice flavour() {
        return rs.flavour;
    }

    /**
     * A domain's reader flavour and the reason it runs that one.
     *
     * @param flavour the flavour of the domain's platform-thread readers
     * @param reason why that flavour was chosen, in words
     */
    public record FlavourChoice(ReaderFlavour flavour, String reason) {
        /**
         * @param flavour the flavour
         * @param reason why
         * @throws NullPointerException if an argument is null
         */
        public FlavourChoice {
            Objects.requireNonNull(flavour, "flavour must not be null");
            Objects.requireNonNull(reason, "reason must not be null");
        }
    }

    // ------------------------------------------------------------------ read side

    /**
     * Enters a read section (Linux {@code srcu_read_lock}).
     *
     * <p><b>Context:</b> never blocks; may nest; the section may block, sleep or park.
     * <p><b>Pairing:</b> exactly one {@link #readUnlock(int)} with the returned index, on this
     * thread.
     * <p><b>Memory consistency effects:</b> if a {@link #synchronize()} returns after this
     * section's {@code readUnlock}, everything the section did happens-before that return;
     * otherwise this section sees every write made before that synchronize was called.
     * Allocates nothing once the thread has read this domain before.
     *
     * @return the index to pass to {@link #readUnlock(int)}: 0 or 1
     * @throws IllegalStateException if the domain is closed
     */
    public int readLock() {
        return rs.lock(current(), "readLock");
    }

    /**
     * The calling thread's read-side handle for this domain: {@link Reader#lock()} and
     * {@link Reader#unlock(int)} are {@link #readLock()} and {@link #readUnlock(int)} without
     * their per-call lookup. Keep it in a local variable for the length of a walk; it is not
     * for other threads.
     *
     * @return this thread's handle (the same object on every call from this thread)
     */
    public Reader reader() {
        return current();
    }

    /**
     * Leaves a read section entered on this thread (Linux {@code srcu_read_unlock}).
     *
     * <p><b>Context:</b> never blocks.
     * <p><b>Memory consistency effects:</b> the section's actions happen-before the return of
     * any {@link #synchronize()} that waited for it, and before callbacks queued while it ran.
     *
     * @param idx the value returned by the matching {@link #readLock()}
     * @throws IllegalStateException if {@code idx} is not 0 or 1, or if this thread holds no read
     *     section with that index (unlocking on another thread than the one that locked: use
     *     {@link #downRead()}/{@link #upRead(int)}); nothing changes
     */
    public void readUnlock(int idx) {
        rs.unlock(current(), idx);
    }

    /**
     * Enters a read section that may end on another thread (Linux {@code srcu_down_read}). It
     * does not count as held by this thread for {@link #readLockHeld()} and the deadlock checks.
     *
     * <p><b>Context:</b> never blocks. <b>Pairing:</b> one {@link #upRead(int)} with the returned
     * index, on any thread.
     *
     * @return the index to pass to {@link #upRead(int)}: 0 or 1
     * @throws IllegalStateException if the domain is closed
     */
    public int downRead() {
        Reader r = current();
        int c = rs.ctrIdx;
        if (c < 0) {
            throw rs.closed("downRead");
        }
        int idx = c & 1;
        rs.counters.lock(r.stripe, idx);
        downReaders[idx].incrementAndGet(); // after the lock count: an upRead never outruns it
        return idx;
    }

    /**
     * Leaves a section entered by {@link #downRead()}, on any thread (Linux {@code srcu_up_read}).
     *
     * <p>The check is per index, not per section: an {@code upRead} with the index of another
     * thread's outstanding {@code downRead} is accepted and ends that section's count, so a grace
     * period may then end while that section is still running. Pair them exactly.
     *
     * @param idx the value returned by the matching {@link #downRead()}
     * @throws IllegalStateException if {@code idx} is not 0 or 1, or if no {@code downRead}
     *     section with that index is outstanding; nothing changes
     */
    public void upRead(int idx) {
        rs.checkIndex("upRead", idx);
        AtomicLong outstanding = downReaders[idx];
        long n;
        do {
            n = outstanding.get();
            if (n == 0) {
                throw new IllegalStateException("upRead(" + idx + ") on SRCU domain '" + name
                        + "': no downRead() section with index " + idx + " is outstanding");
            }
        } while (!outstanding.compareAndSet(n, n - 1));
        rs.counters.unlock(current().stripe, idx);
        rs.wakeGracePeriod();
    }

    /**
     * Whether the calling thread is inside a {@link #readLock()} section of this domain (Linux
     * {@code srcu_read_lock_held}); {@code downRead} sections are not counted. For assertions.
     *
     * @return true if this thread holds a read section of this domain
     */
    public boolean readLockHeld() {
        return current().openSections() > 0;
    }

    // ------------------------------------------------------------------ update side

    /**
     * Waits for a grace period (Linux {@code synchronize_srcu}): returns only after every read
     * section that began before this call has ended. Sections that begin later do not delay it.
     *
     * <p><b>Context:</b> blocks (spins briefly, then yields, then parks with backoff up to 1 ms
     * between checks). Must not be called inside a read section of this domain. Interrupts do
     * not cut the wait short: the guarantee holds, and the interrupt status is set again on
     * return. Concurrent callers share grace periods.
     * <p><b>Memory consistency effects:</b> actions in those earlier sections happen-before the
     * return; actions before the call happen-before any section that begins after the return
     * (and any that is not waited for sees them).
     *
     * @throws IllegalStateException if the calling thread is inside a read section of this
     *     domain (it would deadlock), inside an atomic {@link ExecutionContext} frame (it must not
     *     sleep), or if the domain is closed
     */
    public void synchronize() {
        checkMayWait("synchronize");
        awaitGracePeriod(snapshot(), false);
    }

    /**
     * The same guarantee as {@link #synchronize()} at lower latency and more CPU (Linux
     * {@code synchronize_srcu_expedited}): the waiting never parks, and a normal grace period
     * that is running when it is called stops parking too.
     *
     * @throws IllegalStateException if the calling thread is inside a read section of this
     *     domain (it would deadlock), inside an atomic {@link ExecutionContext} frame, or if the
     *     domain is closed
     */
    public void synchronizeExpedited() {
        checkMayWait("synchronizeExpedited");
        expeditedWaiters.incrementAndGet();
        try {
            awaitGracePeriod(snapshot(), true);
        } finally {
            expeditedWaiters.decrementAndGet();
        }
    }

    /**
     * Runs {@code callback} after a grace period (Linux {@code call_srcu}): after every read
     * section that began before this call has ended. Never synchronously inside this call; by
     * default on the domain's daemon thread, or on the executor given at construction. Callbacks run one at
     * a time in the order they were queued; one grace period serves every callback queued while
     * the previous one ran. A callback that throws is logged (and passed to the error handler)
     * and the next callbacks still run.
     *
     * <p><b>Context:</b> never blocks; may be called inside a read section and from a callback.
     * <p><b>Memory consistency effects:</b> actions before this call, and actions in the read
     * sections it waits for, happen-before the callback runs.
     *
     * @param callback runs once, after a grace period
     * @throws NullPointerException if {@code callback} is null
     * @throws IllegalStateException if the domain is closed
     */
    public void callSrcu(Runnable callback) {
        Objects.requireNonNull(callback, "callback must not be null");
        if (rs.ctrIdx < 0) {
            throw rs.closed("callSrcu");
        }
        callbacks.enqueue(callback);
    }

    /**
     * Waits until every callback queued by {@link #callSrcu} before this call has finished
     * running (Linux {@code srcu_barrier}). Returns at once, forcing no grace period, when nothing
     * is queued. Callbacks queued after the call are not waited for.
     *
     * <p><b>Context:</b> blocks; must not be called inside a read section of this domain or from
     * one of its callbacks. Interrupts are handled as in {@link #synchronize()}.
     * <p><b>Memory consistency effects:</b> the actions of the callbacks waited for happen-before
     * the return.
     *
     * @throws IllegalStateException if called inside a read section of this domain or from one
     *     of its callbacks (it would deadlock), inside an atomic {@link ExecutionContext} frame,
     *     or if the domain is closed
     */
    public void barrier() {
        checkMayWait("barrier");
        if (callbacks.isInvokingThread(Thread.currentThread())) {
            throw new IllegalStateException("barrier() called from a callback of SRCU domain '" + name
                    + "': it would wait for itself and deadlock");
        }
        callbacks.barrier();
    }

    /**
     * Grace periods completed since the domain was created (Linux {@code srcu_batches_completed}).
     * For diagnostics and tests.
     *
     * @return the number of completed grace periods
     */
    public long gracePeriodsCompleted() {
        return rs.gpSeq >>> 1;
    }

    /**
     * Callbacks queued and not yet finished.
     *
     * @return a snapshot count, exact when no callback is queued or finishes during the call
     */
    public long pendingCallbacks() {
        return callbacks.pendingCallbacks();
    }

    /**
     * Batches of callbacks begun so far; {@code callbacks run / batches} is the number of
     * callbacks that shared one grace period. A batch counts once it begins to run, so after
     * {@link #barrier()} every batch that held a callback queued before it is counted.
     *
     * @return the number of batches begun
     */
    public long callbackBatches() {
        return callbacks.batches();
    }

    /**
     * Read sections now open on this domain, on all threads (a racy snapshot, exact when no reader
     * enters or leaves during the call). For diagnostics.
     *
     * @return the number of open read sections
     */
    public long activeReaders() {
        return rs.counters.activeReaders();
    }

    /**
     * Tears the domain down (Linux {@code cleanup_srcu_struct}) and stops its thread. Idempotent.
     * Afterwards {@code readLock}, {@code downRead}, {@code synchronize},
     * {@code synchronizeExpedited}, {@code callSrcu} and {@code barrier} throw
     * {@link IllegalStateException}; the diagnostic getters keep working.
     *
     * <p>Refuses, leaving the domain open, while read sections are open or callbacks are pending
     * (call {@link #barrier()} first). Like the kernel's, this check sees what is visible when it
     * runs: callers must stop starting readers and callbacks before closing. A refused close marks
     * the domain closed for the moment it takes to re-check under the grace-period lock, so a
     * {@code readLock} or {@code callSrcu} racing it may fail with "closed" although the domain
     * stays open; a {@code callSrcu} racing a successful close may be dropped.
     *
     * @throws IllegalStateException naming the count, if readers are active or callbacks pending,
     *     or if called from a read section or callback of this domain
     */
    @Override
    public void close() {
        checkMayWait("close");
        if (callbacks.isInvokingThread(Thread.currentThread())) {
            throw new IllegalStateException("close() called from a callback of SRCU domain '" + name
                    + "': the callback itself is still pending");
        }
        if (rs.ctrIdx < 0) {
            return;
        }
        refuseIfBusy(); // fail fast, before touching anything
        // Never wait for gpLock: its holder may be waiting for a reader that will never leave
        // before close() fails (for example one this very thread holds through downRead()).
        if (!gpLock.tryLock()) {
            throw new IllegalStateException("cannot close SRCU domain '" + name
                    + "': a grace period is in progress (a synchronize() is running on another thread)");
        }
        try {
            int c = rs.ctrIdx;
            if (c < 0) {
                return;
            }
            rs.ctrIdx = c | CLOSED; // first: no new reader or callback can start
            try {
                refuseIfBusy(); // again, now that nothing new can start
            } catch (IllegalStateException e) {
                rs.ctrIdx = c; // refused: back to exactly the state we found
                throw e;
            }
        } finally {
            gpLock.unlock();
        }
        callbacks.stop();
    }

    private void refuseIfBusy() {
        long pending = callbacks.pendingCallbacks();
        long active = rs.counters.activeReaders();
        if (pending != 0 || active != 0) {
            throw new IllegalStateException("cannot close SRCU domain '" + name + "': "
                    + active + " reader(s) active, " + pending
                    + " callback(s) pending (end the readers and call barrier() first)");
        }
    }

    @Override
    public String toString() {
        return "Srcu[" + name + ", gp=" + gracePeriodsCompleted() + (rs.ctrIdx < 0 ? ", closed]" : "]");
    }

    // ------------------------------------------------------------------ grace-period engine

    /**
     * The gpSeq value that marks the end of a grace period starting after this call.
     *
     * <p>A read-modify-write, not a plain volatile read: the grace period that satisfies the
     * snapshot starts with an RMW on gpSeq that comes later in the synchronization order, so it
     * reads this write and the caller's earlier actions (the unpublish) happen-before that grace
     * period's scans, and through them before every reader it does not wait for. With a mere
     * read, a caller whose grace period was run by another thread would get no such edge.
     */
    long snapshot() {
        return ((long) GP_SEQ.getAndAdd(rs, 0L) + 3) & ~1L;
    }

    private boolean done(long snap) {
        return rs.gpSeq - snap >= 0;
    }

    /** Waits until gpSeq reaches {@code snap}, running grace periods when nobody else is. */
    void awaitGracePeriod(long snap, boolean expedited) {
        boolean interrupted = false;
        while (!done(snap)) {
            gpLock.lock(); // uninterruptible on purpose: the guarantee survives an interrupt
            try {
                if (!done(snap)) {
                    if (rs.ctrIdx < 0) {
                        throw rs.closed(expedited ? "synchronizeExpedited" : "synchronize");
                    }
                    interrupted |= runGracePeriod(expedited);
                }
            } finally {
                gpLock.unlock();
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** One full grace period. Caller holds gpLock. Returns whether an interrupt was consumed. */
    private boolean runGracePeriod(boolean expedited) {
        GracePeriodEvent event = GracePeriodEvent.beginIfEnabled(); // JFR: null unless recorded
        int scansBefore = scans;
        // g0, odd: in progress. An RMW: pairs with snapshot()'s RMW, and its write with the
        // one-fence readers' volatile read of gpSeq after their lock store (see ReadSide.lock()).
        GP_SEQ.getAndAdd(rs, 1L);
        rs.counters.pruneDeadSlots(); // fold the slots of dead threads: the scans stay O(live threads)
        int cur = rs.ctrIdx & 1;
        // Stragglers that read the index before the previous flip may still count on cur^1.
        boolean interrupted = waitForReaders(cur ^ 1, expedited);
        VarHandle.fullFence(); // Linux barrier "E": order the scan before the flip.
        rs.ctrIdx = rs.ctrIdx ^ 1; // the flip: new readers now count on cur^1
        VarHandle.fullFence(); // Linux barrier "D": order the flip before the second scan.
        interrupted |= waitForReaders(cur, expedited);
        rs.gpSeq = rs.gpSeq + 1; // even: done; the scans happen-before every done() that reads it
        if (event != null) {
            event.end();
            if (event.shouldCommit()) {
                event.domain = name;
                event.gracePeriod = rs.gpSeq >>> 1;
                event.expedited = expedited;
                event.scans = scans - scansBefore;
                event.flavour = readerFlavour();
                event.commit();
            }
        }
        return interrupted;
    }

    /** The reader flavour JFR's GracePeriod event names: how this domain's platform threads count in and out. */
    private String readerFlavour() {
        return rs.flavour.flavour().name();
    }

    private boolean waitForReaders(int idx, boolean expedited) {
        boolean interrupted = false;
        long parkNanos = minParkNanos;
        Thread me = Thread.currentThread();
        for (int attempt = 0; ; attempt++) { // one scan per attempt
            boolean park = attempt >= YIELD_TRIES && !expedited && expeditedWaiters.get() == 0;
            if (park) {
                rs.gpWaiter = me; // before the scan: see ReadSide.wakeGracePeriod for the pairing
            }
            scans++;
            if (heavyBarrier != null) {
                // FENCE_FREE: the membarrier that stands in for the readers' fences, before the
                // counters are read (and after gpWaiter is written, which makes the wake certain:
                // a reader's unlock either precedes the barrier it takes and is seen by this scan,
                // or follows it and then sees gpWaiter).
                heavyBarrier.run();
            }
            if (rs.counters.readersGone(idx)) {
                if (park) {
                    GP_WAITER.compareAndSet(rs, me, null);
                }
                return interrupted;
            }
            if (attempt < SPIN_TRIES) {
                Thread.onSpinWait();
            } else if (!park) {
                Thread.yield();
            } else {
                // Woken by the next unlock (ReadSide.wakeGracePeriod); the timeout is only a backstop.
                LockSupport.parkNanos(this, parkNanos);
                GP_WAITER.compareAndSet(rs, me, null);
                parkNanos = Math.max(parkNanos, Math.min(MAX_PARK_NANOS, parkNanos << 1));
                if (Thread.interrupted()) { // park returns at once while interrupted
                    interrupted = true;
                }
            }
        }
    }

    /** @return how many reader-cache entries belong to virtual threads (for tests: none may) */
    int cachedVirtualReaders() {
        int n = 0;
        for (Reader r : readerCache) {
            if (r != null && isVirtual(r.owner)) {
                n++;
            }
        }
        return n;
    }

    /** @return the registered one-fence slots (for tests: the registry must not grow without bound) */
    int registeredSlots() {
        return rs.counters.registeredSlots();
    }

    /** Test hook: sets the first park's length (the backstop), so that only a wake ends a wait. */
    void setBackstopParkNanos(long nanos) {
        minParkNanos = nanos;
    }

    /** @return the updater parked waiting for readers, or null (for tests) */
    Thread gracePeriodWaiter() {
        return rs.gpWaiter;
    }

    /**
     * What a read section touches, in an object apart from the domain: the index and closed bit,
     * the grace-period sequence, the waiting updater, the counters, the flavour. Each thread's
     * {@link Reader} is the value of the domain's {@code ThreadLocal} in that thread, and a
     * {@code ThreadLocal} entry whose value reaches its own key is never cleared: if a Reader
     * referred to the domain, which holds the {@code ThreadLocal}, a dropped domain would stay
     * reachable for as long as any thread that had read it lived. Readers refer to no part of
     * the domain but this object, and it refers to the domain weakly ({@link Reader#domain()}).
     * Once the domain is gone, a thread's stale entry keeps its Reader, this object, the counters
     * and their slot registry until that thread's map expunges the entry.
     *
     * <p>Guards: {@code ctrIdx} and {@code gpSeq} are written only by the holder of the domain's
     * gpLock (grace periods, and close()), read anywhere; {@code gpWaiter} as its comment says;
     * the rest is final.
     */
    static final class ReadSide {
        final String name;
        final ReaderCounters counters;
        /** The flavour of this domain's platform-thread readers, and why. */
        final FlavourChoice flavour;
        /** Whether slot readers count in with an opaque store (FENCE_FREE) rather than a volatile one. */
        final boolean fenceFree;
        /** The domain, for {@link Reader#domain()}; weak, see above. */
        final WeakReference<Srcu> domain;

        /** Bit 0: the index new readers count on; sign bit: CLOSED. Written under gpLock. */
        volatile int ctrIdx;
        /** rcu_seq-style grace-period sequence; written under gpLock, read anywhere. */
        volatile long gpSeq;
        /**
         * The updater parked in {@link Srcu#waitForReaders}, or null. Set by that updater (under
         * gpLock, so there is at most one) before the scan that decides to park; cleared by
         * whichever comes first: a reader's unlock, which then unparks it, or the updater itself
         * when it wakes.
         */
        volatile Thread gpWaiter;

        ReadSide(Srcu domain, ReaderCounters counters, FlavourChoice flavour) {
            this.name = domain.name;
            this.counters = counters;
            this.flavour = flavour;
            this.fenceFree = flavour.flavour() == ReaderFlavour.FENCE_FREE;
            this.domain = new WeakReference<>(domain);
        }

        int lock(Reader r, String op) {
            int c = ctrIdx; // r1
            if (c < 0) {
                throw closed(op);
            }
            int idx = c & 1;
            if (r.slotted && fenceFree) {
                // r2 of the fence-free reader: an opaque store, no fence. The scans' membarrier stands
                // in for the fence: it runs a full barrier on this thread either after this store (the
                // scan then counts it) or before it (this section then sees the unpublish).
                r.countInOpaque(idx);
            } else if (r.slotted) {
                r.countIn(idx); // r2: the single-writer volatile store, this reader's one full fence
                // r2': pairs with runGracePeriod's opening RMW on gpSeq. Either this read follows that
                // RMW in the synchronization order (and the updater's unpublish happens-before this
                // section), or r2 precedes it and so the scans' volatile reads of the slot, which
                // then count this reader. The value is not needed; the read is.
                long unused = gpSeq;
            } else {
                counters.lock(r.stripe, idx);
                if (idx == 0) {
                    r.nest0++;
                } else {
                    r.nest1++;
                }
            }
            return idx;
        }

        void unlock(Reader r, int idx) {
            checkIndex("readUnlock", idx);
            if (r.slotted) {
                if (r.openOn(idx) == 0) {
                    throw unmatched(idx);
                }
                r.countOut(idx); // r4: a release store, no fence
            } else {
                if (idx == 0) {
                    if (r.nest0 == 0) {
                        throw unmatched(idx);
                    }
                    r.nest0--;
                } else {
                    if (r.nest1 == 0) {
                        throw unmatched(idx);
                    }
                    r.nest1--;
                }
                counters.unlock(r.stripe, idx);
            }
            wakeGracePeriod();
        }

        /**
         * After an unlock: wakes the updater parked in {@link Srcu#waitForReaders}, if any (Tiny SRCU's
         * {@code swake_up_one} when the last reader leaves; here any unlock wakes it, and it scans
         * again). When no grace period waits, this is one volatile read.
         *
         * <p>Ordering (a store-buffering pair): a two-RMW unlock's RMW precedes this read of
         * gpWaiter; the updater's write of gpWaiter precedes its scan. In the synchronization order,
         * either this read comes after that write (and sees the updater, or null once someone has
         * woken it), or the unlock comes before the write and so before the scan, which then counts
         * it. A one-fence unlock is a release store, not a synchronization action: this read may be
         * satisfied before the store is visible, so the updater can miss both the unlock and the
         * wake. That costs it one backstop park (at most {@link Srcu#MAX_PARK_NANOS}), never safety:
         * for one-fence readers the wake is a hint, and the park's timeout is what bounds the wait.
         * For fence-free readers it is certain again: the updater writes gpWaiter before the
         * membarrier that opens its scan, so the barrier lands on this thread either after the
         * unlock (which the scan then sees) or before it (and this read then sees the updater).
         */
        void wakeGracePeriod() {
            Thread w = gpWaiter;
            if (w != null && GP_WAITER.compareAndSet(this, w, null)) {
                LockSupport.unpark(w);
            }
        }

        void checkIndex(String op, int idx) {
            if ((idx & ~1) != 0) {
                throw new IllegalStateException(op + "(" + idx + ") on SRCU domain '" + name
                        + "': not an index returned by the matching lock (0 or 1)");
            }
        }

        private IllegalStateException unmatched(int idx) {
            return new IllegalStateException("readUnlock(" + idx + ") on SRCU domain '" + name
                    + "': thread '" + Thread.currentThread().getName() + "' holds no read section with index "
                    + idx + " (a section ending on another thread must use downRead()/upRead())");
        }

        IllegalStateException closed(String op) {
            return new IllegalStateException(op + "() on SRCU domain '" + name + "', which is closed");
        }
    }

    // ------------------------------------------------------------------ checks

    private void checkMayWait(String op) {
        ExecutionContext ctx = ExecutionContext.current();
        if (ctx.inAtomic()) { // might_sleep(); the message is built only when it throws
            ctx.mightSleep("Srcu." + op + "() of domain '" + name + "'");
        }
        if (readLockHeld()) {
            throw new IllegalStateException(op + "() called inside a read section of SRCU domain '"
                    + name + "' on the same thread: it would wait for itself and deadlock");
        }
        if (rs.ctrIdx < 0 && !"close".equals(op)) {
            throw rs.closed(op);
        }
    }

    /**
     * Whether {@code t} is a virtual thread ({@code Thread.isVirtual()}, looked up reflectively:
     * the module compiles for Java 17, which has none).
     */
    static boolean isVirtual(Thread t) {
        if (IS_VIRTUAL == null) {
            return false;
        }
        try {
            return (boolean) IS_VIRTUAL.invokeExact(t);
        } catch (Throwable e) {
            throw new AssertionError("Thread.isVirtual() failed", e);
        }
    }

    // VarHandle mechanics
    private static final VarHandle GP_SEQ;
    private static final VarHandle GP_WAITER;
    /** Thread.isVirtual() on Java 19+; null before. */
    private static final MethodHandle IS_VIRTUAL;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            GP_SEQ = l.findVarHandle(ReadSide.class, "gpSeq", long.class);
            GP_WAITER = l.findVarHandle(ReadSide.class, "gpWaiter", Thread.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
        MethodHandle isVirtual;
        try {
            isVirtual = MethodHandles.publicLookup().findVirtual(Thread.class, "isVirtual",
                    MethodType.methodType(boolean.class));
        } catch (NoSuchMethodException | IllegalAccessException e) {
            isVirtual = null; // Java 17 and 18: every thread is a platform thread
        }
        IS_VIRTUAL = isVirtual;
    }
}
