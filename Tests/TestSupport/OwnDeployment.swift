import Foundation

/// What most deployment tests start from: a folder of their own, a `ResponderPool` in it, and an
/// `OwnNginx` in front of it with one authentication variant (and, for that variant, the
/// identity service or the PKI it needs). Everything stops, and the folder goes, when released.
public final class OwnDeployment {
  /// How clients authenticate.
  public enum Authentication {
    /// auth_basic: the users of nginx/local/htpasswd.
    case basic
    /// auth_request to a `StubIdentityService` (bearer tokens).
    case authRequest
    /// TLS client certificates from a `TestPKI`.
    case clientCertificate
  }

  /// The test's folder.
  public let directory: TemporaryDirectory
  /// The responder pool nginx passes requests to.
  public let pool: ResponderPool
  /// The identity service, for `.authRequest`.
  public let identity: StubIdentityService?
  /// The certificates, for `.clientCertificate`.
  public let pki: TestPKI?
  /// nginx, configured by the test.
  public let nginx: OwnNginx

  /// A plain-HTTP client for nginx.
  public var client: HTTPClient { nginx.client }

  /// Starts the pool, what the variant needs, and nginx.
  ///
  /// - Parameters:
  ///   - prefix: the temporary folder's name prefix.
  ///   - authentication: the variant nginx's server block includes.
  ///   - extraServerConfig: lines added to the server block.
  public init(_ prefix: String, authentication: Authentication, extraServerConfig: String = "") throws {
    directory = TemporaryDirectory(prefix)
    pool = try ResponderPool(in: directory)
    var identity: StubIdentityService?
    var pki: TestPKI?
    let variant: OwnNginx.Variant
    switch authentication {
    case .basic:
      variant = .basic
    case .authRequest:
      let service = try StubIdentityService(in: directory)
      identity = service
      variant = .authRequest(port: service.port)
    case .clientCertificate:
      let certificates = try TestPKI(in: directory)
      pki = certificates
      variant = .clientCertificate(certificates)
    }
    self.identity = identity
    self.pki = pki
    nginx = try OwnNginx(
      in: directory, socket: pool.socketPath, variant: variant, extraServerConfig: extraServerConfig)
  }

  /// Server-block lines that let a test appear as a remote client: the real-IP module takes the
  /// address from X-Forwarded-For when the connection comes from 127.0.0.1.
  public static let clientAddressFromForwardedFor = """
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    """
}
