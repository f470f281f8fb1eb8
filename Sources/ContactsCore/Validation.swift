/// What is wrong with one field of a body.
public struct FieldError: Equatable, Sendable {
  public var field: String
  public var message: String
  public init(field: String, message: String) {
    self.field = field
    self.message = message
  }
}

/// A body that is valid JSON but not an acceptable contact: every offending field, named.
public struct ValidationFailure: Error, Equatable, Sendable {
  public var message: String
  public var fields: [FieldError]
  public init(message: String, fields: [FieldError] = []) {
    self.message = message
    self.fields = fields
  }
}

/// A new custom contact as validated from a POST body.
public struct CustomContactDraft: Equatable, Sendable {
  public var name: String
  public var phoneNumber: String

  public init(name: String, phoneNumber: String) {
    self.name = name
    self.phoneNumber = phoneNumber
  }
}

/// The changes of a PUT body: any non-empty subset of the writable attributes.
public struct CustomContactChanges: Equatable, Sendable {
  public var name: String?
  public var phoneNumber: String?

  public init(name: String? = nil, phoneNumber: String? = nil) {
    self.name = name
    self.phoneNumber = phoneNumber
  }

  /// `contact` with these changes applied.
  public func applied(to contact: Contact) -> Contact {
    var updated = contact
    if let name { updated.name = name }
    if let phoneNumber { updated.phoneNumber = phoneNumber }
    return updated
  }
}

/// The rules for what admins may send about custom contacts (docs/api.md, "Contacts").
public enum CustomContactValidation {
  public static let maximumNameLength = 200
  public static let maximumPhoneNumberLength = 50
  /// The characters a phone number may hold besides digits.
  public static let phoneNumberPunctuation: Set<Character> = [" ", "+", "-", "(", ")", ".", "/", "x", "#"]
  static let writableFields = ["name", "phoneNumber", "type"]

  /// Validates a POST body.
  ///
  /// - Throws: `ValidationFailure` naming each offending field.
  public static func validateNew(_ body: JSONValue) throws(ValidationFailure) -> CustomContactDraft {
    let members = try objectMembers(body)
    var errors = commonErrors(members, idRule: { _ in "is assigned by the server and cannot be sent" })
    let name = validatedName(members, required: true, errors: &errors)
    let phoneNumber = validatedPhoneNumber(members, required: true, errors: &errors)
    guard errors.isEmpty, let name, let phoneNumber else { throw failure(errors) }
    return CustomContactDraft(name: name, phoneNumber: phoneNumber)
  }

  /// Validates a PUT body against the stored contact it would change.
  ///
  /// - Throws: `ValidationFailure` naming each offending field, or saying the body changes nothing.
  public static func validateChanges(_ body: JSONValue, to existing: Contact) throws(ValidationFailure)
    -> CustomContactChanges
  {
    let members = try objectMembers(body)
    var errors = commonErrors(
      members,
      idRule: { value in
        guard case .string(let id) = value else { return "must be a string, not \(value.typeDescription)" }
        return id == existing.id ? nil : "does not match the id in the path; the id cannot be changed"
      })
    let name = validatedName(members, required: false, errors: &errors)
    let phoneNumber = validatedPhoneNumber(members, required: false, errors: &errors)
    guard errors.isEmpty else { throw failure(errors) }
    guard name != nil || phoneNumber != nil else {
      throw ValidationFailure(message: "The body changes nothing: send name, phoneNumber or both.")
    }
    return CustomContactChanges(name: name, phoneNumber: phoneNumber)
  }

  private static func objectMembers(_ body: JSONValue) throws(ValidationFailure) -> [JSONMember] {
    guard case .object(let members) = body else {
      throw ValidationFailure(message: "The body must be a JSON object, not \(body.typeDescription).")
    }
    return members
  }

  private static func failure(_ errors: [FieldError]) -> ValidationFailure {
    let names = errors.map(\.field)
    var unique: [String] = []
    for name in names where !unique.contains(name) { unique.append(name) }
    return ValidationFailure(
      message: "The contact is not valid: check \(unique.joined(separator: ", ")).", fields: errors)
  }

  /// Errors that do not depend on the operation: unknown, read-only and repeated fields, `type`.
  private static func commonErrors(_ members: [JSONMember], idRule: (JSONValue) -> String?) -> [FieldError] {
    var errors: [FieldError] = []
    var seen: Set<String> = []
    for member in members {
      if !seen.insert(member.key).inserted {
        errors.append(FieldError(field: member.key, message: "appears more than once"))
        continue
      }
      switch member.key {
      case "name", "phoneNumber": break
      case "type":
        if case .string(let text) = member.value {
          if ContactType(caseInsensitive: text) != .custom {
            errors.append(
              FieldError(field: "type", message: "must be \"Custom\": only custom contacts can be created or changed"))
          }
        } else {
          errors.append(FieldError(field: "type", message: "must be a string, not \(member.value.typeDescription)"))
        }
      case "id":
        if let message = idRule(member.value) { errors.append(FieldError(field: "id", message: message)) }
      case let key where ContactAttribute(rawValue: key) != nil:
        errors.append(FieldError(field: key, message: "is read-only: only users from the directory have it"))
      default:
        errors.append(
          FieldError(
            field: member.key, message: "is not a contact field; allowed: \(writableFields.joined(separator: ", "))"))
      }
    }
    return errors
  }

  private static func stringField(
    _ name: String, _ members: [JSONMember], required: Bool, errors: inout [FieldError]
  ) -> String? {
    let values = members.filter { $0.key == name }
    guard values.count == 1 else {
      if values.isEmpty && required { errors.append(FieldError(field: name, message: "is required")) }
      return nil
    }
    guard case .string(let text) = values[0].value else {
      errors.append(FieldError(field: name, message: "must be a string, not \(values[0].value.typeDescription)"))
      return nil
    }
    // Checked before trimming: a trailing line break is refused, not silently dropped.
    if let problem = TextRules.contactTextProblem(in: text) {
      errors.append(FieldError(field: name, message: problem))
      return nil
    }
    return text
  }

  /// The trimmed text of `field`, 1 to `maximum` characters; `nil` (with the error noted) else.
  private static func trimmedText(
    _ field: String, maximum: Int, _ members: [JSONMember], required: Bool, errors: inout [FieldError]
  ) -> String? {
    guard let raw = stringField(field, members, required: required, errors: &errors) else { return nil }
    let text = raw.trimmingWhitespace()
    let problem =
      text.isEmpty
      ? "must not be empty"
      : text.count > maximum ? "must be at most \(maximum) characters (it has \(text.count))" : nil
    if let problem {
      errors.append(FieldError(field: field, message: problem))
      return nil
    }
    return text
  }

  private static func validatedName(_ members: [JSONMember], required: Bool, errors: inout [FieldError]) -> String? {
    trimmedText("name", maximum: maximumNameLength, members, required: required, errors: &errors)
  }

  private static func validatedPhoneNumber(
    _ members: [JSONMember], required: Bool, errors: inout [FieldError]
  ) -> String? {
    guard
      let number = trimmedText(
        "phoneNumber", maximum: maximumPhoneNumberLength, members, required: required, errors: &errors)
    else { return nil }
    let invalid = number.filter { !($0.isASCII && $0.isNumber) && !phoneNumberPunctuation.contains($0) }
    if !invalid.isEmpty {
      var shown: [Character] = []
      for character in invalid where !shown.contains(character) { shown.append(character) }
      errors.append(
        FieldError(
          field: "phoneNumber",
          message:
            "may hold only digits, spaces and + - ( ) . / x # (found \(shown.map { "'\($0)'" }.joined(separator: ", ")))"
        ))
      return nil
    }
    if !number.contains(where: { $0.isASCII && $0.isNumber }) {
      errors.append(FieldError(field: "phoneNumber", message: "must contain at least one digit"))
      return nil
    }
    return number
  }
}

extension String {
  /// Without leading and trailing white space (Unicode white space and newlines).
  public func trimmingWhitespace() -> String {
    guard let first = firstIndex(where: { !$0.isWhitespace }) else { return "" }
    let last = lastIndex(where: { !$0.isWhitespace })!
    return String(self[first...last])
  }
}
