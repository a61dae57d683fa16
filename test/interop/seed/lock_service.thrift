namespace py lockservice

struct LockRequest {
  1: required string lockKey
}

service LockService {
  bool acquireLock(1: LockRequest request)
  bool releaseLock(1: LockRequest request)
}
