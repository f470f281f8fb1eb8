import ContactsCore

extension ContactsAPI {
  /// The most operations one bulk request may hold.
  static let maximumBulkOperations = 1000

  /// `POST /contacts/_bulk`: up to 1,000 creates, updates and deletes, each answered as the single
  /// request would have been, run in order (a later one sees the earlier ones) under one write
  /// lock and committed together with one durable write. With `"atomic": true`, all or nothing.
  func bulk(_ context: RequestContext) throws -> APIResponse {
    let key = try idempotencyKey(context)
    if let key, let kept = try repository.keptAnswer(user: context.identity.user, key: key) {
      return try replay(kept, for: context)
    }
    let body = try parsedBody(context.request, limit: configuration.maximumBulkBodyBytes).get()
    let (operations, atomic) = try Self.bulkEnvelope(body)
    var answer: [UInt8] = []
    let outcome = try writing { () throws in
      try repository.commit(by: context.identity.user, idempotencyKey: key) { state, kept in
        if let kept { throw KeptAnswerFound(answer: kept) }
        var working = BulkWorkingSet(state)
        var changes: [ContactChange] = []
        var results: [Result<BulkSuccess, APIError>] = []
        for operation in operations {
          let sequence = state.generation + UInt64(changes.count) + 1
          do {
            let (change, success) = try self.evaluate(operation, in: working, version: sequence)
            working.apply(change, version: sequence)
            changes.append(change)
            results.append(.success(success))
          } catch let error as APIError {
            results.append(.failure(error))
          }
        }
        if atomic, results.contains(where: { if case .failure = $0 { true } else { false } }) {
          changes = []
          results = results.map { if case .success = $0 { .failure(APIError.notApplied) } else { $0 } }
        }
        answer = Self.renderBulkResults(results)
        return CommitPlan(
          changes, idempotentAnswer: key.map { self.keep(answer, status: 200, key: $0, for: context) })
      }
    } replaying: { kept in
      try self.replay(kept, for: context)
    }
    if let replayed = outcome.response { return replayed }
    return APIResponse(status: 200, headers: [Self.jsonContentType], body: answer)
  }

  /// What one operation did: its status, and the contact and tag it left (none on a delete).
  struct BulkSuccess {
    var status: Int
    var etag: String?
    var contact: [UInt8]?
  }

  /// One operation of a bulk request, shape-checked.
  enum BulkOperation {
    case create(JSONValue)
    case update(id: String, changes: JSONValue, ifMatch: String?)
    case delete(id: String, ifMatch: String?)
  }

  /// `{"operations":[…], "atomic": bool}`; anything else is a 400 for the whole request.
  static func bulkEnvelope(_ body: JSONValue) throws(APIError) -> ([BulkOperation], atomic: Bool) {
    guard case .object(let members) = body else { throw APIError.invalidBulk("the body must be a JSON object") }
    var atomic = false
    var operations: [BulkOperation]?
    for member in members {
      switch member.key {
      case "atomic":
        guard case .bool(let value) = member.value else { throw APIError.invalidBulk("'atomic' must be true or false") }
        atomic = value
      case "operations":
        guard case .array(let items) = member.value else { throw APIError.invalidBulk("'operations' must be an array") }
        guard (1...maximumBulkOperations).contains(items.count) else {
          throw APIError.invalidBulk(
            "'operations' must hold 1 to \(maximumBulkOperations) operations, not \(items.count)")
        }
        operations = try items.enumerated().map { (index, item) throws(APIError) in try operation(item, at: index) }
      default:
        throw APIError.invalidBulk("unknown member '\(member.key)'; allowed: operations, atomic")
      }
    }
    guard let operations else { throw APIError.invalidBulk("'operations' is missing") }
    return (operations, atomic)
  }

  static func operation(_ item: JSONValue, at index: Int) throws(APIError) -> BulkOperation {
    guard case .object(let members) = item else { throw APIError.invalidBulk("operation \(index) is not an object") }
    let allowed: Set<String> = ["op", "id", "contact", "ifMatch"]
    if let unknown = members.first(where: { !allowed.contains($0.key) }) {
      throw APIError.invalidBulk("operation \(index) has an unknown member '\(unknown.key)'")
    }
    let id = item["id"]?.stringValue
    let ifMatch = item["ifMatch"]?.stringValue
    if item["ifMatch"] != nil && ifMatch == nil {
      throw APIError.invalidBulk("operation \(index): 'ifMatch' must be a string")
    }
    switch item["op"]?.stringValue {
    case "create":
      guard let contact = item["contact"], id == nil, ifMatch == nil else {
        throw APIError.invalidBulk("operation \(index): a create has a 'contact' and no 'id' or 'ifMatch'")
      }
      return .create(contact)
    case "update":
      guard let id, let contact = item["contact"] else {
        throw APIError.invalidBulk("operation \(index): an update has an 'id' and a 'contact'")
      }
      return .update(id: id, changes: contact, ifMatch: ifMatch)
    case "delete":
      guard let id, item["contact"] == nil else {
        throw APIError.invalidBulk("operation \(index): a delete has an 'id' and no 'contact'")
      }
      return .delete(id: id, ifMatch: ifMatch)
    default:
      throw APIError.invalidBulk("operation \(index): 'op' must be create, update or delete")
    }
  }

  /// The contacts as the earlier operations of a bulk request left them: the state, and what
  /// those operations changed, by id. Operations only look contacts up by id, so a bulk request
  /// costs no sorted insertion into the whole directory per operation (nor a copy of it).
  struct BulkWorkingSet {
    let state: DirectoryState
    /// Each contact an earlier operation created or updated; `nil` for one it deleted.
    private var changed: [String: Contact?] = [:]

    init(_ state: DirectoryState) { self.state = state }

    func contact(id: String) -> Contact? {
      if let change = changed[id] { return change }
      return state.contact(id: id)?.contact
    }

    func contains(id: String) -> Bool { contact(id: id) != nil }

    /// Notes `change`, made at `version` (its sequence number).
    mutating func apply(_ change: ContactChange, version: UInt64) {
      switch change {
      case .create(var contact), .update(var contact):
        contact.version = version
        changed[contact.id] = .some(contact)
      case .delete(let id): changed[id] = .some(nil)
      }
    }
  }

  /// Decides one operation against the state as the earlier ones left it.
  func evaluate(_ operation: BulkOperation, in state: BulkWorkingSet, version: UInt64) throws(APIError)
    -> (ContactChange, BulkSuccess)
  {
    switch operation {
    case .create(let body):
      let draft: CustomContactDraft
      do throws(ValidationFailure) { draft = try CustomContactValidation.validateNew(body) } catch {
        throw APIError.invalidContact(error)
      }
      var id = ContactID.random()
      while state.contains(id: id) { id = ContactID.random() }
      var contact = Contact(id: id, type: .custom, name: draft.name, phoneNumber: draft.phoneNumber)
      contact.version = version
      return (
        .create(contact), BulkSuccess(status: 201, etag: EntityTag.forContact(version: version), contact: contact.json)
      )
    case .update(let id, let body, let ifMatch):
      let existing = try checkedForBulk(id, in: state, ifMatch: ifMatch, method: "PUT")
      let changes: CustomContactChanges
      do throws(ValidationFailure) { changes = try CustomContactValidation.validateChanges(body, to: existing) } catch {
        throw APIError.invalidContact(error)
      }
      let updated = changes.applied(to: existing)
      return (
        .update(updated), BulkSuccess(status: 200, etag: EntityTag.forContact(version: version), contact: updated.json)
      )
    case .delete(let id, let ifMatch):
      _ = try checkedForBulk(id, in: state, ifMatch: ifMatch, method: "DELETE")
      return (.delete(id: id), BulkSuccess(status: 204))
    }
  }

  /// 404, 405 and 412 for one operation, as the single request would answer them.
  private func checkedForBulk(_ id: String, in state: BulkWorkingSet, ifMatch: String?, method: String)
    throws(APIError) -> Contact
  {
    guard let contact = state.contact(id: id) else { throw APIError.notFound("/contacts/\(id)") }
    guard contact.type == .custom else { throw Self.methodNotAllowed(method, for: contact) }
    if let ifMatch, !EntityTag.matches(ifMatch, current: EntityTag.forContact(version: contact.version)) {
      throw APIError.preconditionFailed
    }
    return contact
  }

  /// `{"results":[…]}`: one per operation, in order.
  static func renderBulkResults(_ results: [Result<BulkSuccess, APIError>]) -> [UInt8] {
    var writer = JSONWriter(reservingCapacity: 64 + results.count * 160)
    writer.append(raw: "{\"results\":[")
    for (index, result) in results.enumerated() {
      if index > 0 { writer.append(raw: ",") }
      switch result {
      case .success(let success):
        writer.append(raw: "{")
        writer.append(key: "status", integer: success.status, first: true)
        if let etag = success.etag { writer.append(key: "etag", string: etag) }
        if let contact = success.contact {
          writer.append(raw: ",\"contact\":")
          writer.append(raw: contact)
        }
        writer.append(raw: "}")
      case .failure(let error):
        writer.append(raw: "{")
        writer.append(key: "status", integer: error.status, first: true)
        writer.append(raw: ",")
        // The error object, as a single request's body holds it under "error".
        writer.append(raw: error.body.dropFirst().dropLast())
        writer.append(raw: "}")
      }
    }
    writer.append(raw: "]}")
    return writer.bytes
  }

  /// `GET /contacts/{id}/history`: every create, update and delete of a custom contact, oldest
  /// first; an empty list for a queue or user; 404 for an id that never existed.
  func history(_ context: RequestContext, id: String) throws -> APIResponse {
    guard let entries = try repository.history(of: id) else { throw APIError.notFound(context.request.path) }
    var writer = JSONWriter(reservingCapacity: 64 + entries.count * 200)
    writer.append(raw: "{\"history\":[")
    for (index, entry) in entries.enumerated() {
      writer.append(raw: index > 0 ? ",{" : "{")
      writer.append(key: "at", string: entry.at, first: true)
      writer.append(key: "by", string: entry.by)
      writer.append(key: "op", string: entry.op)
      if let contact = entry.contact {
        writer.append(raw: ",\"contact\":")
        writer.append(raw: contact)
      }
      writer.append(raw: "}")
    }
    writer.append(raw: "]}")
    return APIResponse(
      status: 200,
      headers: [Self.jsonContentType, .init("Cache-Control", "private, no-cache")], body: writer.bytes)
  }
}
