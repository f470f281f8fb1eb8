import ContactsCore
import Platform

/// `Idempotency-Key` on `POST /contacts` and `POST /contacts/_bulk`: a retry after a timeout or a
/// 502 gets the first answer instead of running twice. Answers are kept per user with the data
/// (every worker and host sees them), for at least 24 hours, decided under the same lock or
/// transaction as the write they guard.
extension ContactsAPI {
  /// The request's key, checked: 1–255 visible ASCII characters.
  func idempotencyKey(_ context: RequestContext) throws(APIError) -> String? {
    guard let key = context.request.idempotencyKey else { return nil }
    guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
      throw APIError.invalidIdempotencyKey
    }
    return key
  }

  /// What identifies a request for its key: method, path and body (FNV-1a, stable across
  /// processes and hosts).
  ///
  /// Kept with every answer, in files and databases: the bytes hashed, method, NUL, path, NUL,
  /// body, must never change.
  static func requestHash(_ request: APIRequest) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    func add(_ byte: UInt8) {
      hash ^= UInt64(byte)
      hash &*= 0x0000_0100_0000_01b3
    }
    for byte in request.method.utf8 { add(byte) }
    add(0)
    for byte in request.path.utf8 { add(byte) }
    add(0)
    for byte in request.body { add(byte) }
    return String(hash, radix: 16)
  }

  /// The id in a kept 201's body, the created contact as `Contact.json` wrote it
  /// (`{"id":"…",…}`): read in place when it has no escape, else by the parser. A replay is as
  /// cheap as a read by id, and parsing the whole body made it dearer.
  static func createdID(_ body: [UInt8]) -> String? {
    let prefix = #"{"id":""#.utf8
    if body.starts(with: prefix),
      let end = body[prefix.count...].firstIndex(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }),
      body[end] == UInt8(ascii: "\"")
    {
      return String(decoding: body[prefix.count..<end], as: UTF8.self)
    }
    return (try? JSONParser.parse(body))?["id"]?.stringValue
  }

  /// The answer to keep for `key`.
  func keep(_ body: [UInt8], status: Int, key: String, for context: RequestContext) -> IdempotentAnswer {
    IdempotentAnswer(
      user: context.identity.user, key: key, requestHash: Self.requestHash(context.request), status: status,
      body: body, createdAt: Clock.unixSeconds())
  }

  /// A retry: the kept status and body with `Idempotent-Replayed: true`, or 422 when the key
  /// came with another request. A replayed 201 has its `Location`, and its `ETag` while the
  /// contact is still as the answer shows it (after a change or a delete the kept bytes are no
  /// longer the contact's, and no tag names them).
  func replay(_ kept: IdempotentAnswer, for context: RequestContext) throws(APIError) -> APIResponse {
    guard kept.requestHash == Self.requestHash(context.request) else { throw APIError.idempotencyKeyReused }
    var headers = [Self.jsonContentType, APIResponse.Header("Idempotent-Replayed", "true")]
    if kept.status == 201, let id = Self.createdID(kept.body) {
      headers.append(.init("Location", "/contacts/\(id)"))
      if let entry = (try? repository.currentState())?.contact(id: id), entry.hasJSON(kept.body[...]) {
        headers.append(.init("ETag", EntityTag.forContact(version: entry.version)))
      }
    }
    return APIResponse(status: kept.status, headers: headers, body: kept.body)
  }

  /// What a write with a key came to: the state after it, or the response a retry gets.
  enum WriteOutcome {
    case state(DirectoryState)
    case replayed(APIResponse)

    var response: APIResponse? {
      if case .replayed(let response) = self { return response }
      return nil
    }
  }

  /// Runs `write`; a kept answer found under the lock becomes its replay, a key in use a 409.
  func writing(
    _ write: () throws -> DirectoryState, replaying: (IdempotentAnswer) throws -> APIResponse
  ) throws -> WriteOutcome {
    do {
      return .state(try write())
    } catch let found as KeptAnswerFound {
      return .replayed(try replaying(found.answer))
    } catch is IdempotencyKeyInUse {
      throw APIError.idempotencyKeyInUse
    }
  }
}

/// Thrown from inside a commit when the key already has an answer: nothing is written.
struct KeptAnswerFound: Error {
  var answer: IdempotentAnswer
}
