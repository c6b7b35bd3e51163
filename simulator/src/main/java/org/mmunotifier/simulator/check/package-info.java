/**
 * What a run is judged by: the {@link Checker}, which validates every secondary access against the
 * primary page table under its lock and counts every violation of coherence or lifetime, and the
 * deliberate driver bugs ({@link Inject}) that it must catch.
 */
package org.mmunotifier.simulator.check;
