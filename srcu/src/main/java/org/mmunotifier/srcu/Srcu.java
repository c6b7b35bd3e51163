package org.mmunotifier.srcu;

import java.lang.invoke.VarHandle;
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
     *   - ReaderCounters keeps per-stripe lock[2] and unlock[2] counters. A reader reads ctrIdx,
     *     increments lock[stripe][ctrIdx & 1] and returns that index; the unlock increments
     *     unlock[stripe][idx]. Only sums over stripes mean anything.
     *   - A grace period (runGracePeriod, one at a time under gpLock) waits for the inactive index
     *     to drain, flips ctrIdx, then waits for the formerly active index to drain. The flip is
     *     what makes a stream of new readers unable to starve the updater: they count on the
     *     other index.
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
     * Reader (R): r1 volatile read of ctrIdx; r2 lock getAndAdd; r3 the section's reads;
     * r4 unlock getAndAdd. Updater (W): w1 publish; the scans; w3 reclaim after synchronize.
     * r2 pairs with the scan's getAndAdd(0) of the same lock counter (ReaderCounters.readersGone):
     * if r2 is later in the synchronization order, W's RMW synchronizes-with it, so w1
     * happens-before r3 and R cannot see the retired object. Otherwise R is counted in the lock
     * sum, and equal sums mean r4 was already counted by the earlier unlock sum, whose volatile
     * read synchronizes-with r4: r3 happens-before w3. The fullFences around the flip bound how
     * many readers can still count on the old index after the flip (Linux's barriers E and D).
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
    private final ReaderCounters counters;
    private final ThreadLocal<Reader> readers;
    private final CallbackQueue callbacks;
    /** Serializes grace periods; holder is the only writer of ctrIdx (except close) and gpSeq. */
    private final ReentrantLock gpLock = new ReentrantLock();
    /** Threads inside synchronizeExpedited(): the running grace period stops sleeping. */
    private final AtomicInteger expeditedWaiters = new AtomicInteger();
    /** Outstanding downRead() sections per index, so that an unmatched upRead() is caught. */
    private final AtomicLong[] downReaders = {new AtomicLong(), new AtomicLong()};

    /** Bit 0: the index new readers count on; sign bit: CLOSED. Written under gpLock. */
    private volatile int ctrIdx;
    /** rcu_seq-style grace-period sequence; written under gpLock, read anywhere. */
    private volatile long gpSeq;
    /**
     * The updater parked in {@link #waitForReaders}, or null. Set by that updater (under gpLock,
     * so there is at most one) before the scan that decides to park; cleared by whichever comes
     * first: a reader's unlock, which then unparks it, or the updater itself when it wakes.
     */
    private volatile Thread gpWaiter;
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
        this.counters = counters;
        this.readers = ThreadLocal.withInitial(() -> new Reader(this, counters.assignStripe()));
        this.callbacks = new CallbackQueue(this, b.executor, b.errorHandler);
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
         * Creates the domain.
         *
         * @return a new domain
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
    public static final class Reader {
        /*
         * Guards: nest0 and nest1 (this thread's open sections per index) are confined to owner.
         * Everything else is final.
         */
        private final Srcu domain;
        private final Thread owner;
        private final ExecutionContext context;
        final int stripe;
        int nest0;
        int nest1;

        Reader(Srcu domain, int stripe) {
            this.domain = domain;
            this.owner = Thread.currentThread();
            this.context = ExecutionContext.current();
            this.stripe = stripe;
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
            return domain.lock(this, "readLock");
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
            domain.unlock(this, idx);
        }

        /** @return the handle thread's execution context ({@link ExecutionContext#current()} there) */
        public ExecutionContext context() {
            return context;
        }

        /** @return the domain */
        public Srcu domain() {
            return domain;
        }

        private void checkOwner(String op) {
            if (Thread.currentThread() != owner) {
                throw new IllegalStateException("Srcu.Reader." + op + "() of domain '" + domain.name
                        + "' called on thread '" + Thread.currentThread().getName() + "'; the handle belongs to thread '"
                        + owner.getName() + "' (each thread gets its own from Srcu.reader())");
            }
        }

        @Override
        public String toString() {
            return "Srcu.Reader[domain=" + domain.name + ", thread=" + owner.getName() + ", sections="
                    + (nest0 + nest1) + "]";
        }
    }

    /** @return the name given at construction */
    public String name() {
        return name;
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
        return lock(readers.get(), "readLock");
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
        return readers.get();
    }

    private int lock(Reader r, String op) {
        int c = ctrIdx;
        if (c < 0) {
            throw closed(op);
        }
        int idx = c & 1;
        counters.lock(r.stripe, idx);
        if (idx == 0) {
            r.nest0++;
        } else {
            r.nest1++;
        }
        return idx;
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
        unlock(readers.get(), idx);
    }

    private void unlock(Reader r, int idx) {
        checkIndex("readUnlock", idx);
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
        wakeGracePeriod();
    }

    /**
     * After an unlock: wakes the updater parked in {@link #waitForReaders}, if any (Tiny SRCU's
     * {@code swake_up_one} when the last reader leaves; here any unlock wakes it, and it scans
     * again). When no grace period waits, this is one volatile read.
     *
     * <p>Ordering (a store-buffering pair): the unlock's RMW precedes this read of gpWaiter; the
     * updater's write of gpWaiter precedes its scan. In the synchronization order, either this
     * read comes after that write (and sees the updater, or null once someone has woken it), or
     * the unlock comes before the write and so before the scan, which then counts it. So an
     * updater never parks on a scan that missed an unlock without a reader coming to wake it.
     */
    private void wakeGracePeriod() {
        Thread w = gpWaiter;
        if (w != null && GP_WAITER.compareAndSet(this, w, null)) {
            LockSupport.unpark(w);
        }
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
        Reader r = readers.get();
        int c = ctrIdx;
        if (c < 0) {
            throw closed("downRead");
        }
        int idx = c & 1;
        counters.lock(r.stripe, idx);
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
        checkIndex("upRead", idx);
        AtomicLong outstanding = downReaders[idx];
        long n;
        do {
            n = outstanding.get();
            if (n == 0) {
                throw new IllegalStateException("upRead(" + idx + ") on SRCU domain '" + name
                        + "': no downRead() section with index " + idx + " is outstanding");
            }
        } while (!outstanding.compareAndSet(n, n - 1));
        counters.unlock(readers.get().stripe, idx);
        wakeGracePeriod();
    }

    /**
     * Whether the calling thread is inside a {@link #readLock()} section of this domain (Linux
     * {@code srcu_read_lock_held}); {@code downRead} sections are not counted. For assertions.
     *
     * @return true if this thread holds a read section of this domain
     */
    public boolean readLockHeld() {
        Reader r = readers.get();
        return r.nest0 + r.nest1 > 0;
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
        if (ctrIdx < 0) {
            throw closed("callSrcu");
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
        return gpSeq >>> 1;
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
        return counters.activeReaders();
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
        if (ctrIdx < 0) {
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
            int c = ctrIdx;
            if (c < 0) {
                return;
            }
            ctrIdx = c | CLOSED; // first: no new reader or callback can start
            try {
                refuseIfBusy(); // again, now that nothing new can start
            } catch (IllegalStateException e) {
                ctrIdx = c; // refused: back to exactly the state we found
                throw e;
            }
        } finally {
            gpLock.unlock();
        }
        callbacks.stop();
    }

    private void refuseIfBusy() {
        long pending = callbacks.pendingCallbacks();
        long active = counters.activeReaders();
        if (pending != 0 || active != 0) {
            throw new IllegalStateException("cannot close SRCU domain '" + name + "': "
                    + active + " reader(s) active, " + pending
                    + " callback(s) pending (end the readers and call barrier() first)");
        }
    }

    @Override
    public String toString() {
        return "Srcu[" + name + ", gp=" + gracePeriodsCompleted() + (ctrIdx < 0 ? ", closed]" : "]");
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
        return ((long) GP_SEQ.getAndAdd(this, 0L) + 3) & ~1L;
    }

    private boolean done(long snap) {
        return gpSeq - snap >= 0;
    }

    /** Waits until gpSeq reaches {@code snap}, running grace periods when nobody else is. */
    void awaitGracePeriod(long snap, boolean expedited) {
        boolean interrupted = false;
        while (!done(snap)) {
            gpLock.lock(); // uninterruptible on purpose: the guarantee survives an interrupt
            try {
                if (!done(snap)) {
                    if (ctrIdx < 0) {
                        throw closed(expedited ? "synchronizeExpedited" : "synchronize");
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
        GP_SEQ.getAndAdd(this, 1L); // odd: in progress. An RMW: pairs with snapshot()'s RMW.
        int cur = ctrIdx & 1;
        // Stragglers that read the index before the previous flip may still count on cur^1.
        boolean interrupted = waitForReaders(cur ^ 1, expedited);
        VarHandle.fullFence(); // Linux barrier "E": order the scan before the flip.
        ctrIdx = ctrIdx ^ 1;   // the flip: new readers now count on cur^1
        VarHandle.fullFence(); // Linux barrier "D": order the flip before the second scan.
        interrupted |= waitForReaders(cur, expedited);
        gpSeq = gpSeq + 1; // even: done; the scans happen-before every done() that reads it
        if (event != null) {
            event.end();
            if (event.shouldCommit()) {
                event.domain = name;
                event.gracePeriod = gpSeq >>> 1;
                event.expedited = expedited;
                event.scans = scans - scansBefore;
                event.flavour = readerFlavour();
                event.commit();
            }
        }
        return interrupted;
    }

    /** The reader flavour JFR's GracePeriod event names: how readers count in and out. */
    private String readerFlavour() {
        return "two-rmw"; // a getAndAdd on lock, one on unlock
    }

    private boolean waitForReaders(int idx, boolean expedited) {
        boolean interrupted = false;
        long parkNanos = minParkNanos;
        Thread me = Thread.currentThread();
        for (int attempt = 0; ; attempt++) { // one scan per attempt
            boolean park = attempt >= YIELD_TRIES && !expedited && expeditedWaiters.get() == 0;
            if (park) {
                gpWaiter = me; // before the scan: see wakeGracePeriod for the pairing
            }
            scans++;
            if (counters.readersGone(idx)) {
                if (park) {
                    GP_WAITER.compareAndSet(this, me, null);
                }
                return interrupted;
            }
            if (attempt < SPIN_TRIES) {
                Thread.onSpinWait();
            } else if (!park) {
                Thread.yield();
            } else {
                // Woken by the next unlock (wakeGracePeriod); the timeout is only a backstop.
                LockSupport.parkNanos(this, parkNanos);
                GP_WAITER.compareAndSet(this, me, null);
                parkNanos = Math.max(parkNanos, Math.min(MAX_PARK_NANOS, parkNanos << 1));
                if (Thread.interrupted()) { // park returns at once while interrupted
                    interrupted = true;
                }
            }
        }
    }

    /** Test hook: sets the first park's length (the backstop), so that only a wake ends a wait. */
    void setBackstopParkNanos(long nanos) {
        minParkNanos = nanos;
    }

    /** @return the updater parked waiting for readers, or null (for tests) */
    Thread gracePeriodWaiter() {
        return gpWaiter;
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
        if (ctrIdx < 0 && !"close".equals(op)) {
            throw closed(op);
        }
    }

    private void checkIndex(String op, int idx) {
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

    private IllegalStateException closed(String op) {
        return new IllegalStateException(op + "() on SRCU domain '" + name + "', which is closed");
    }

    // VarHandle mechanics
    private static final VarHandle GP_SEQ;
    private static final VarHandle GP_WAITER;

    static {
        try {
            GP_SEQ = java.lang.invoke.MethodHandles.lookup().findVarHandle(Srcu.class, "gpSeq", long.class);
            GP_WAITER = java.lang.invoke.MethodHandles.lookup().findVarHandle(Srcu.class, "gpWaiter", Thread.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }
}
