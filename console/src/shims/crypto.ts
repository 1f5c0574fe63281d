/**
 * node:crypto is not in the browser. The shared modules the console imports only parse formats;
 * hashing and signatures are WebCrypto's (src/audit/verify.ts). Reaching one of these is a bug.
 */
const unavailable = (name: string) => () => {
  throw new Error(`node:crypto ${name} is not available in the console; use WebCrypto`);
};
export const createHash = unavailable("createHash");
export const createHmac = unavailable("createHmac");
export const createPrivateKey = unavailable("createPrivateKey");
export const createPublicKey = unavailable("createPublicKey");
export const randomBytes = unavailable("randomBytes");
export const sign = unavailable("sign");
export const verify = unavailable("verify");
export const timingSafeEqual = unavailable("timingSafeEqual");
export type KeyObject = never;
