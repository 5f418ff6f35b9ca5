/**
 * sauce-registry: log container tools in to the Sauce Labs Container Registry with short-lived
 * tokens, and serve those tokens to Docker, Podman, Skopeo and Buildah as a credential helper,
 * and to the kubelet as an image credential provider.
 *
 * The library behind the `sauce-registry` command. It runs on Deno, Bun and Node, uses only the
 * runtimes' built-ins and can be imported by URL. Each subject lives in its own file under
 * `src/`; this module only re-exports the public API.
 *
 * @example Fetch a token and log Docker in
 * ```ts
 * import { fetchToken, login, resolveCredentials } from "@saucelabs-community/sauce-registry";
 *
 * const credentials = await resolveCredentials();
 * const registry = "registry.example.com/your-private-registry";
 * const token = await fetchToken({ credentials, registryUrl: registry });
 * await login(token, registry, { tool: "docker" });
 * console.log(`logged in until ${token.expiresAt.toISOString()}`);
 * ```
 *
 * @module
 */

export {
  fetchToken,
  type FetchTokenOptions,
  type RegistryToken,
  type SettingNames,
  type TokenProgress,
} from "./src/api.ts";
export { clearCachedTokens, getToken, type GetTokenOptions } from "./src/cache.ts";
export {
  type CredentialOptions,
  resolveCredentials,
  type ResolvedCredentials,
  type SauceCredentials,
} from "./src/credentials.ts";
export {
  configureDocker,
  type ConfigureDockerOptions,
  type ConfigureDockerResult,
  dockerConfigFor,
  type DockerConfigStatus,
  dockerConfigStatus,
  unconfigureDocker,
  type UnconfigureDockerOptions,
} from "./src/docker_config.ts";
export {
  ApiError,
  type ApiErrorOptions,
  AuthenticationError,
  ConfigError,
  CredentialsNotFoundError,
  redact,
  SauceRegistryError,
  type SauceRegistryErrorOptions,
  TimeoutError,
  ToolError,
  type ToolErrorOptions,
  UsageError,
} from "./src/errors.ts";
export {
  credentialHelper,
  type CredentialHelperOptions,
  type CredentialHelperResult,
  CREDENTIALS_NOT_FOUND,
  HELPER_PROGRAM,
} from "./src/helper.ts";
export { installHelper, type InstallHelperResult } from "./src/install_helper.ts";
export {
  type CredentialProviderRequest,
  type CredentialProviderResponse,
  KUBELET_PROVIDER_API_VERSIONS,
  kubeletCredentialProvider,
  type KubeletProviderApiVersion,
  type KubeletProviderOptions,
} from "./src/kubelet.ts";
export {
  containersAuthFile,
  credentialHelperServes,
  login,
  logout,
  type Tool,
  type ToolOptions,
  type ToolResult,
  TOOLS,
} from "./src/login.ts";
export type { PathOptions } from "./src/paths.ts";
export { type PullSecretOptions, pullSecretYaml } from "./src/pull_secret.ts";
export { parseRegistry, registryHost, type RegistryReference } from "./src/reference.ts";
export { readRegistrySettings, type RegistrySettings } from "./src/registries.ts";
export { type Launcher, launcher } from "./src/runtime.ts";
export {
  apiBaseUrl,
  type ApiSettings,
  type ApiSettingsOptions,
  type CredentialSource,
  DEFAULT_REGION,
  DEFAULT_TIMEOUT_SECONDS,
  type Found,
  MAX_TIMEOUT_SECONDS,
  REGIONS,
  resolveApiSettings,
  type SettingLookup,
  settingLookup,
} from "./src/settings.ts";
export { status, type StatusOptions, type StatusReport } from "./src/status.ts";
export {
  pushImage,
  type PushOptions,
  registryUrlForImage,
  type TemporaryAuthOptions,
  withTemporaryAuth,
} from "./src/temporary_auth.ts";
export { VERSION } from "./src/version.ts";
