export { TENCENT_ERRORS, type TencentErrorCode } from './codes.js';
export { type UserSigSourceOptions, userSigSource } from './credential.js';
export { DEFAULT_TENCENT_PLATFORMS, type TencentOptions, tencentFamily } from './family.js';
export {
  MAX_USERSIG_LENGTH,
  type SignUserSigOptions,
  signUserSig,
  type UserSigClaims,
  type UserSigFailure,
  type UserSigResult,
  type VerifyUserSigOptions,
  verifyUserSig,
} from './usersig.js';
