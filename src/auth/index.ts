/** Authentication, authorization and quotas: see access-control.ts. */
export { AccessControl, OPEN_ACCESS } from './access-control';
export type { AccessEvents, CallAccess, PeerCertificateNames } from './access-control';
export { AuthFile } from './auth-file';
export { parsePermissions, RIGHTS } from './permissions';
export type { Permissions, Quotas, Right } from './permissions';
export { sha256Hex } from './secrets';
