/**
 * attachPrincipal: `request.evict` through an accessor on the request's prototype (no property added
 * to the request), or a plain property where the name is already someone else's.
 */
import type { Principal } from '@evict/core';
import { attachPrincipal } from '@evict/core/node';
import { describe, expect, it } from 'vitest';

const alice: Principal = { uid: 'alice', deviceFlag: 1, credential: 'session' };
const bob: Principal = { uid: 'bob', credential: 'usersig' };

describe('attachPrincipal', () => {
  it('reads back as request.evict, per request, without an own property', () => {
    const proto = {};
    const a = Object.create(proto) as { evict?: Principal };
    const b = Object.create(proto) as { evict?: Principal };
    const untouched = Object.create(proto) as { evict?: Principal };
    attachPrincipal(a, alice);
    attachPrincipal(b, bob);
    expect(a.evict).toBe(alice);
    expect(b.evict).toBe(bob);
    expect(untouched.evict).toBeUndefined();
    expect(Object.hasOwn(a, 'evict')).toBe(false);
    expect(Object.keys(proto)).toEqual([]); // not enumerable: no change to for…in or spreads of requests
  });

  it('a later guard on the same request replaces the principal; the host can assign it too', () => {
    const request = Object.create({}) as { evict?: Principal };
    attachPrincipal(request, alice);
    attachPrincipal(request, bob);
    expect(request.evict).toBe(bob);
    request.evict = alice;
    expect(request.evict).toBe(alice);
  });

  it('works through an inherited accessor (an app prototype below another that has it)', () => {
    const base = {};
    attachPrincipal(Object.create(base), alice);
    const app = Object.create(base) as object;
    const request = Object.create(app) as { evict?: Principal };
    attachPrincipal(request, bob);
    expect(request.evict).toBe(bob);
    expect(Object.hasOwn(app, 'evict')).toBe(false);
  });

  it("assigns a plain property where evict is already taken: on the request, by another library's accessor, on a frozen prototype, with no prototype", () => {
    const own = Object.assign(Object.create({}), { evict: 'host value' }) as { evict?: unknown };
    attachPrincipal(own, alice);
    expect(own.evict).toBe(alice);

    let theirs: unknown;
    const foreign = Object.defineProperty({}, 'evict', {
      configurable: true,
      get: () => theirs,
      set: (value) => {
        theirs = value;
      },
    });
    const viaForeign = Object.create(foreign) as { evict?: unknown };
    attachPrincipal(viaForeign, alice);
    expect(viaForeign.evict).toBe(alice);
    expect(theirs).toBe(alice); // their setter ran: the name is theirs, we did not redefine it

    const frozen = Object.create(Object.freeze({})) as { evict?: unknown };
    attachPrincipal(frozen, bob);
    expect(frozen.evict).toBe(bob);
    expect(Object.hasOwn(frozen, 'evict')).toBe(true);

    const bare = Object.create(null) as { evict?: unknown };
    attachPrincipal(bare, alice);
    expect(bare.evict).toBe(alice);
  });
});
