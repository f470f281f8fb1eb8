import ContactsCore
import Testing

struct RolePolicyTests {
  static let defaults: [([String], Permissions)] = [
    (["Contact Center Admin"], [.read, .write]),
    (["  contact center ADMIN "], [.read, .write]),
    (["Agent"], [.read]),
    (["agent", "Unknown"], [.read]),
    (["Supervisor"], []),
    ([], []),
  ]

  @Test(arguments: defaults)
  func defaultPolicyGrantsWhatAPIMdSays(roles: [String], expected: Permissions) {
    #expect(RolePolicy.default.permissions(for: roles) == expected)
  }

  @Test func rolesHeaderIsCommaSeparatedAndTrimmed() {
    #expect(RolePolicy.roles(fromHeader: " Agent , Contact Center Admin,,") == ["Agent", "Contact Center Admin"])
    #expect(RolePolicy.roles(fromHeader: "") == [])
  }

  @Test func configuredPolicyReplacesTheDefaults() throws {
    let json = try JSONParser.parse(Array(#"{"Supervisor":["read","write"],"Agent":["read"]}"#.utf8))
    let policy = try RolePolicy(json: json)
    #expect(policy.permissions(for: ["supervisor"]) == [.read, .write])
    #expect(policy.permissions(for: ["Contact Center Admin"]) == [])
  }

  @Test(arguments: [
    #"["Agent"]"#,
    #"{"Agent":"read"}"#,
    #"{"Agent":["read","delete"]}"#,
    #"{"Agent":["read"],"agent ":["write"]}"#,
    #"{" ":["read"]}"#,
  ])
  func malformedRolesAreAStartupError(text: String) throws {
    let json = try JSONParser.parse(Array(text.utf8))
    #expect(throws: ConfigurationError.self) { try RolePolicy(json: json) }
  }
}
