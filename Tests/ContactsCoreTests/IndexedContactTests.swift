import Testing

@testable import ContactsCore

/// `IndexedContact` keeps a contact's texts, as sent and folded, in one flat buffer: everything
/// read back from it must be what the contact's own strings give.
struct IndexedContactTests {
  static let contacts: [Contact] = [
    Contact(id: "c1", type: .custom, name: "Front Desk", phoneNumber: "+1 (555) 010-0199", version: 3),
    Contact(id: "c2", type: .custom, name: "no phone", version: 1),
    Contact(id: "Q-Upper-Case-Id", type: .queue, name: "Sales EMEA", phoneNumber: "42"),
    Contact(
      id: "0123456789abcdef0123456789abcdef", type: .user, name: "Anna Novak", phoneNumber: "+420 601 234 567",
      userName: "ANovak", firstName: "Anna", lastName: "Novák", employeeId: "E-0042", version: 99),
    Contact(id: "u2", type: .user, name: "Only Name"),
    Contact(id: "u3", type: .user, name: "Empty Fields", phoneNumber: "", userName: "", firstName: "", lastName: ""),
    Contact(
      id: "u4", type: .user, name: "Straße ΣΑΣ", userName: "ẞig", firstName: "İlkay", lastName: "ı", employeeId: "K"),
    // `Contact` allows user attributes on another type (the API never stores them): kept as
    // sent, but neither filtered nor searched.
    Contact(id: "c3", type: .custom, name: "Odd", userName: "notAUser", employeeId: "E1"),
    // More than 64 KiB of text: the run table is 32-bit.
    Contact(
      id: "wide", type: .user, name: String(repeating: "Long Name ", count: 7_000), userName: "wideUser",
      firstName: String(repeating: "é", count: 1_000), lastName: "Last", employeeId: "E-wide"),
  ]

  @Test(arguments: contacts)
  func theContactReadsBackAsItWasGiven(contact: Contact) {
    let indexed = IndexedContact(contact)
    #expect(indexed.contact == contact)
    #expect(indexed.contact.name.utf8.elementsEqual(contact.name.utf8))
    #expect(indexed.id == contact.id && indexed.type == contact.type && indexed.version == contact.version)
    #expect(indexed.phoneNumber == contact.phoneNumber)
    #expect(Array(indexed.json) == contact.json)
  }

  /// At the run table's limit: 65,535 bytes of text still fit 16-bit ends, 65,536 take 32-bit
  /// ones (a name and its folded copy; a phone number without digits adds one byte).
  @Test(arguments: [(32_767, "x"), (32_768, nil)] as [(Int, String?)])
  func textAtTheSixteenBitLimitReadsBack(nameLength: Int, phoneNumber: String?) {
    let contact = Contact(
      id: "limit", type: .custom, name: String(repeating: "n", count: nameLength - 1) + "Z",
      phoneNumber: phoneNumber)
    let indexed = IndexedContact(contact)
    #expect(indexed.contact == contact)
    #expect(indexed.withSortKey { Array($0) } == Array(TextFolding.fold(contact.name).utf8))
    #expect(indexed.withPhoneDigits { $0.count } == 0)
    #expect(indexed.folded(.phoneNumber) == phoneNumber.map { _ in "" })
  }

  @Test(arguments: contacts)
  func holdsIsByteEqualityOfEveryValue(contact: Contact) {
    let indexed = IndexedContact(contact)
    #expect(indexed.holds(contact))
    var other = contact
    other.version += 1
    #expect(!indexed.holds(other))
    other = contact
    other.name += "x"
    #expect(!indexed.holds(other))
    other = contact
    other.phoneNumber = contact.phoneNumber == nil ? "" : nil
    #expect(!indexed.holds(other))
    other = contact
    other.employeeId = (contact.employeeId ?? "") + "1"
    #expect(!indexed.holds(other))
    other = contact
    other.type = contact.type == .user ? .custom : .user
    #expect(!indexed.holds(other))
  }

  /// Canonically equivalent text is `==` as a `Contact`, but not the same bytes: not held.
  @Test func holdsTellsCanonicallyEquivalentTextApart() {
    let precomposed = Contact(id: "z", type: .custom, name: "Zo\u{EB}")
    let decomposed = Contact(id: "z", type: .custom, name: "Zoe\u{308}")
    #expect(precomposed == decomposed)
    #expect(!IndexedContact(precomposed).holds(decomposed))
  }

  @Test(arguments: contacts)
  func foldedValuesAreTheFoldedStrings(contact: Contact) {
    let indexed = IndexedContact(contact)
    let isUser = contact.type == .user
    #expect(indexed.folded(.id) == TextFolding.fold(contact.id))
    #expect(indexed.folded(.name) == TextFolding.fold(contact.name))
    #expect(indexed.folded(.type) == contact.type.folded)
    #expect(indexed.folded(.phoneNumber) == contact.phoneNumber.map(TextFolding.digits(of:)))
    #expect(indexed.folded(.userName) == (isUser ? contact.userName.map(TextFolding.fold) : nil))
    #expect(indexed.folded(.firstName) == (isUser ? contact.firstName.map(TextFolding.fold) : nil))
    #expect(indexed.folded(.lastName) == (isUser ? contact.lastName.map(TextFolding.fold) : nil))
    #expect(indexed.folded(.employeeId) == (isUser ? contact.employeeId.map(TextFolding.fold) : nil))
    let digits = indexed.withPhoneDigits { Array($0) }
    #expect(digits == Array(TextFolding.digits(of: contact.phoneNumber ?? "").utf8))
    #expect(indexed.withSortKey { Array($0) } == Array(TextFolding.fold(contact.name).utf8))
    #expect(indexed.withFoldedID { Array($0) } == Array(TextFolding.fold(contact.id).utf8))
  }

  /// What `q` searches: the folded name, then (users only) each folded user attribute after the
  /// separator, an absent one as nothing; so no needle matches across two fields.
  @Test(arguments: contacts)
  func theSearchableTextIsTheFoldedNameAndAUsersFields(contact: Contact) {
    let indexed = IndexedContact(contact)
    var expected = Array(TextFolding.fold(contact.name).utf8)
    if contact.type == .user {
      for value in [contact.userName, contact.firstName, contact.lastName, contact.employeeId] {
        expected.append(IndexedContact.searchSeparator)
        expected += Array(TextFolding.fold(value ?? "").utf8)
      }
    }
    #expect(indexed.withSearchableText { Array($0) } == expected)
  }

  /// `hasFolded` is `String`'s `==` over the folded values: bytes where both sides are ASCII,
  /// canonical equivalence otherwise.
  @Test func exactFilterComparisonIsStringEquality() {
    let greekQuestionMark = IndexedContact(Contact(id: "g", type: .custom, name: "a\u{37E}b"))
    #expect(greekQuestionMark.hasFolded(.name, amongst: ["a;b"]))
    let ascii = IndexedContact(Contact(id: "a", type: .custom, name: "a;b"))
    #expect(ascii.hasFolded(.name, amongst: ["x", "a\u{37E}b"]))
    #expect(ascii.hasFolded(.name, amongst: ["x", "a;b"]))
    #expect(!ascii.hasFolded(.name, amongst: ["x", "a;bc", "a;"]))
    let decomposed = IndexedContact(Contact(id: "z", type: .user, name: "n", userName: "Zoe\u{308}"))
    #expect(decomposed.hasFolded(.userName, amongst: ["zo\u{EB}"]))
    #expect(!decomposed.hasFolded(.firstName, amongst: [""]))  // absent: never matches
    let noDigits = IndexedContact(Contact(id: "p", type: .custom, name: "n", phoneNumber: "ext"))
    #expect(!noDigits.hasFolded(.phoneNumber, amongst: [""]))
    let empty = IndexedContact(Contact(id: "e", type: .user, name: "n", userName: ""))
    #expect(empty.hasFolded(.userName, amongst: [""]))
    let upperID = IndexedContact(Contact(id: "ID-X", type: .custom, name: "n"))
    #expect(upperID.hasFolded(.id, amongst: ["id-x"]) && !upperID.hasFolded(.id, amongst: ["ID-X"]))
    #expect(upperID.hasFolded(.type, amongst: ["custom"]))
    for contact in Self.contacts {
      let indexed = IndexedContact(contact)
      for attribute in ContactAttribute.allCases {
        guard let value = indexed.folded(attribute) else {
          #expect(!indexed.hasFolded(attribute, amongst: ["", "x"]))
          continue
        }
        #expect(indexed.hasFolded(attribute, amongst: [value]) == !(attribute == .phoneNumber && value.isEmpty))
        #expect(!indexed.hasFolded(attribute, amongst: [value + "x"]))
      }
    }
  }

  /// Byte strings of every length up to three words and a bit, differing at each position in
  /// turn (in a whole word and in the tail), or in length alone.
  @Test func sameBytesFindsEveryDifference() {
    for count in 0...27 {
      let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 1) }
      bytes.withUnsafeBytes { original in
        #expect(IndexedContact.sameBytes(original, original))
        (bytes + [0]).withUnsafeBytes { longer in #expect(!IndexedContact.sameBytes(original, longer)) }
      }
      for position in 0..<count {
        var changed = bytes
        changed[position] ^= 0x80
        bytes.withUnsafeBytes { original in
          changed.withUnsafeBytes { other in #expect(!IndexedContact.sameBytes(original, other), "\(count) \(position)")
          }
        }
      }
    }
    let contact = IndexedContact(Contact(id: "c1", type: .custom, name: "Desk"))
    #expect(contact.hasJSON(ArraySlice(contact.json)))
    #expect(!contact.hasJSON(ArraySlice(contact.json.dropLast())))
  }
}
