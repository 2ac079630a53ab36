/**
 * 100-slot distribution tables for algorithms 9 (weight) and 11 (relative weight), as Kamailio
 * documents them: each destination owns as many slots as its percentage, the table is shuffled,
 * and successive calls walk it, so every 100 calls follow the shares exactly.
 */

export const SLOTS = 100;

function shuffle(slots: Uint16Array, random: () => number): void {
  for (let i = slots.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = slots[i] as number;
    slots[i] = slots[j] as number;
    slots[j] = t;
  }
}

/**
 * Algorithm 9. "The sum must not exceed 100, otherwise the destinations whose weight added to
 * the sum go over 100 are ignored. If the sum is less than 100, then the last destination is
 * used to fill the missing percentage." (Kamailio dispatcher docs, attribute 'weight').
 * With no weight at all every slot is the first destination (the first entry rule).
 */
export function buildWeightSlots(weights: readonly number[], random: () => number): Uint16Array {
  const slots = new Uint16Array(SLOTS);
  if (!weights.some((w) => w > 0)) return slots;
  let used = 0;
  weights.forEach((w, index) => {
    if (w <= 0 || used + w > SLOTS) return;
    slots.fill(index, used, used + w);
    used += w;
  });
  slots.fill(weights.length - 1, used);
  shuffle(slots, random);
  return slots;
}

/**
 * Algorithm 11. "Active host usage probability is rweight/(SUM of all active host rweights in
 * destination group)... If the computation of percentage per destination is not an exact
 * integer number, the value is truncated and the last destination is used to fill the
 * remaining percentage till 100." `rweights[i]` is 0 for destinations that are not eligible
 * (inactive, disabled, no rweight). Returns undefined when nothing is eligible.
 */
export function buildRelativeWeightSlots(rweights: readonly number[], random: () => number): Uint16Array | undefined {
  let sum = 0;
  let last = -1;
  rweights.forEach((w, index) => {
    if (w > 0) {
      sum += w;
      last = index;
    }
  });
  if (sum === 0) return undefined;
  const slots = new Uint16Array(SLOTS);
  let used = 0;
  rweights.forEach((w, index) => {
    if (w <= 0) return;
    const share = Math.floor((w * SLOTS) / sum);
    slots.fill(index, used, used + share);
    used += share;
  });
  slots.fill(last, used);
  shuffle(slots, random);
  return slots;
}
