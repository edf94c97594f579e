# Homebrew formula for eice-proxy, installing a release archive (no build).
#
# The version and the sha256 placeholders are filled in by
# scripts/fill-packaging from the release's SHA256SUMS; the release workflow
# attaches the filled formula to the release, for a tap to carry.
class EiceProxy < Formula
  desc "SOCKS5 and HTTP CONNECT proxy to EC2 instances through EC2 Instance Connect Endpoints"
  homepage "https://github.com/eice-proxy/eice-proxy"
  version "@VERSION@"
  license "Apache-2.0"

  on_macos do
    on_arm do
      url "https://github.com/eice-proxy/eice-proxy/releases/download/v#{version}/eice-proxy-#{version}-aarch64-apple-darwin.tar.gz"
      sha256 "@SHA256:aarch64-apple-darwin@"
    end
    on_intel do
      url "https://github.com/eice-proxy/eice-proxy/releases/download/v#{version}/eice-proxy-#{version}-x86_64-apple-darwin.tar.gz"
      sha256 "@SHA256:x86_64-apple-darwin@"
    end
  end

  on_linux do
    on_arm do
      url "https://github.com/eice-proxy/eice-proxy/releases/download/v#{version}/eice-proxy-#{version}-aarch64-unknown-linux-gnu.tar.gz"
      sha256 "@SHA256:aarch64-unknown-linux-gnu@"
    end
    on_intel do
      url "https://github.com/eice-proxy/eice-proxy/releases/download/v#{version}/eice-proxy-#{version}-x86_64-unknown-linux-gnu.tar.gz"
      sha256 "@SHA256:x86_64-unknown-linux-gnu@"
    end
  end

  def install
    bin.install "eice-proxy"
    man1.install Dir["man/*.1"]
    bash_completion.install "completions/eice-proxy.bash" => "eice-proxy"
    zsh_completion.install "completions/_eice-proxy"
    fish_completion.install "completions/eice-proxy.fish"
  end

  service do
    run [opt_bin/"eice-proxy", "serve"]
    keep_alive successful_exit: false
    log_path var/"log/eice-proxy.log"
    error_log_path var/"log/eice-proxy.log"
  end

  test do
    assert_match "eice-proxy #{version}", shell_output("#{bin}/eice-proxy --version")
    assert_match "demo: built in", shell_output("#{bin}/eice-proxy --version")
  end
end
