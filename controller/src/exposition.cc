#include <podlens/controller/exposition.hpp>

#include <podlens/abi.hpp>

#include <charconv>
#include <cmath>

namespace podlens::controller {

void appendEscapedLabelValue(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void appendEscapedHelp(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void appendDouble(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  std::to_chars_result r;
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    r = std::to_chars(buf, buf + sizeof(buf), static_cast<int64_t>(value));  // "1000", not 1e+03
  } else {
    r = std::to_chars(buf, buf + sizeof(buf), value);  // shortest round-trip form
  }
  out.append(buf, r.ptr);
}

void TextWriter::family(std::string_view name, std::string_view help, MetricType type) {
  static constexpr std::string_view kTypes[] = {"counter", "gauge", "histogram", "untyped"};
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  appendEscapedHelp(out_, help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += kTypes[static_cast<int>(type)];
  out_ += '\n';
}

void TextWriter::labelsAndValue(std::span<const Label> labels) {
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) {
        out_ += ',';
      }
      out_ += labels[i].name;
      out_ += "=\"";
      appendEscapedLabelValue(out_, labels[i].value);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
}

void TextWriter::sample(std::string_view name, std::span<const Label> labels, double value) {
  out_ += name;
  labelsAndValue(labels);
  appendDouble(out_, value);
  out_ += '\n';
}

void TextWriter::sample(std::string_view name, std::span<const Label> labels, uint64_t value) {
  out_ += name;
  labelsAndValue(labels);
  char buf[24];
  out_.append(buf, std::to_chars(buf, buf + sizeof(buf), value).ptr);
  out_ += '\n';
}

void TextWriter::counter(std::string_view name, std::string_view help, uint64_t value) {
  family(name, help, MetricType::Counter);
  sample(name, {}, value);
}

void TextWriter::gauge(std::string_view name, std::string_view help, double value) {
  family(name, help, MetricType::Gauge);
  sample(name, {}, value);
}

void TextWriter::kernelLosses(std::span<const uint64_t> countsByReason) {
  constexpr std::string_view kName = "podlens_kernel_losses_total";
  family(kName, "Transactions or parts of them the kernel lost, by reason (per-CPU counters "
                "summed).",
         MetricType::Counter);
  for (size_t i = 0; i < countsByReason.size(); ++i) {
    sample(kName, {{"reason", podlens::lossReasonName(static_cast<uint32_t>(i))}},
           countsByReason[i]);
  }
}

}  // namespace podlens::controller
