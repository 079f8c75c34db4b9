// bpf_line_profile: which source lines of a loaded BPF program a CPU profile's samples fall
// on. `perf report` stops at the JIT symbol (bpf_prog_<tag>_<function>), and annotating JIT
// code needs a perf built with libopcodes; the kernel keeps, per program, the JIT address of
// every line-info record, which is all a source-line profile needs.
//
//   bpf_line_profile snapshot (--pinned PATH | --name NAME) > LINES.tsv
//       the program's functions and line records with their JIT addresses, while it is
//       loaded (--name: the newest program of that name)
//   perf script -F ip,sym -i perf.data | bpf_line_profile attribute LINES.tsv [--top N]
//       samples per function, then the N source lines with the most samples (40); samples
//       outside the program's functions are left out
//   bpf_line_profile --smoke
//       loads the null TC program, snapshots it and attributes an address of its own
//
// A sample counts for the last line record at or below its address. A load of the same object
// lands at other addresses: take the snapshot while the profiled program is loaded (see
// bench/README.md). Needs root.
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "null_tc.skel.h"

namespace {

struct Function {
  uint64_t start = 0;
  uint32_t length = 0;
  std::string name;
};

struct Line {
  uint64_t address = 0;
  std::string where;   // file:line
  std::string source;  // the line's text
};

struct Table {
  std::vector<Function> functions;
  std::vector<Line> lines;  // sorted by address
};

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "bpf_line_profile: %s\n", what.c_str());
  std::exit(1);
}

// The newest loaded program named name, or -1.
int newestProgramNamed(const std::string& name) {
  uint32_t id = 0, best = 0;
  while (bpf_prog_get_next_id(id, &id) == 0) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) {
      continue;
    }
    bpf_prog_info info{};
    uint32_t length = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &length) == 0 && name == info.name) {
      best = id;
    }
    close(fd);
  }
  return best == 0 ? -1 : bpf_prog_get_fd_by_id(best);
}

std::string baseName(const char* path) {
  const char* slash = path != nullptr ? std::strrchr(path, '/') : nullptr;
  return slash != nullptr ? slash + 1 : (path != nullptr ? path : "?");
}

std::string oneLine(std::string text) {
  std::replace(text.begin(), text.end(), '\t', ' ');
  std::replace(text.begin(), text.end(), '\n', ' ');
  size_t first = text.find_first_not_of(' ');
  return first == std::string::npos ? "" : text.substr(first);
}

// The functions and line records of the program behind fd, with their JIT addresses.
Table readTable(int fd) {
  bpf_prog_info counts{};
  uint32_t length = sizeof(counts);
  if (bpf_obj_get_info_by_fd(fd, &counts, &length) != 0) {
    fail(std::string("reading the program's info: ") + std::strerror(errno));
  }
  const uint32_t nLines = std::min(counts.nr_line_info, counts.nr_jited_line_info);
  if (nLines == 0 || counts.nr_jited_ksyms == 0) {
    fail("the program has no JIT line info (built without -g, or not JIT-compiled)");
  }
  std::vector<bpf_line_info> lineInfo(counts.nr_line_info);
  std::vector<uint64_t> jitedLines(counts.nr_jited_line_info);
  std::vector<uint64_t> ksyms(counts.nr_jited_ksyms);
  std::vector<uint32_t> funcLengths(counts.nr_jited_func_lens);
  std::vector<bpf_func_info> funcInfo(counts.nr_func_info);
  bpf_prog_info info{};
  info.nr_line_info = counts.nr_line_info;
  info.line_info_rec_size = sizeof(bpf_line_info);
  info.line_info = reinterpret_cast<uintptr_t>(lineInfo.data());
  info.nr_jited_line_info = counts.nr_jited_line_info;
  info.jited_line_info_rec_size = sizeof(uint64_t);
  info.jited_line_info = reinterpret_cast<uintptr_t>(jitedLines.data());
  info.nr_jited_ksyms = counts.nr_jited_ksyms;
  info.jited_ksyms = reinterpret_cast<uintptr_t>(ksyms.data());
  info.nr_jited_func_lens = counts.nr_jited_func_lens;
  info.jited_func_lens = reinterpret_cast<uintptr_t>(funcLengths.data());
  info.nr_func_info = counts.nr_func_info;
  info.func_info_rec_size = sizeof(bpf_func_info);
  info.func_info = reinterpret_cast<uintptr_t>(funcInfo.data());
  length = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &length) != 0) {
    fail(std::string("reading the program's line info: ") + std::strerror(errno));
  }
  btf* types = btf__load_from_kernel_by_id(counts.btf_id);
  if (types == nullptr) {
    fail("loading the program's BTF");
  }
  Table table;
  for (size_t k = 0; k < ksyms.size(); ++k) {
    Function f;
    f.start = ksyms[k];
    f.length = k < funcLengths.size() ? funcLengths[k] : 0;
    const btf_type* type =
        k < funcInfo.size() ? btf__type_by_id(types, funcInfo[k].type_id) : nullptr;
    f.name = type != nullptr ? btf__name_by_offset(types, type->name_off) : "?";
    table.functions.push_back(f);
  }
  for (uint32_t k = 0; k < nLines; ++k) {
    const bpf_line_info& record = lineInfo[k];
    Line line;
    line.address = jitedLines[k];
    line.where = baseName(btf__name_by_offset(types, record.file_name_off)) + ":" +
                 std::to_string(BPF_LINE_INFO_LINE_NUM(record.line_col));
    const char* source = btf__name_by_offset(types, record.line_off);
    line.source = oneLine(source != nullptr ? source : "");
    table.lines.push_back(line);
  }
  btf__free(types);
  std::sort(table.lines.begin(), table.lines.end(),
            [](const Line& a, const Line& b) { return a.address < b.address; });
  return table;
}

void writeTable(const Table& table, std::FILE* out) {
  for (const auto& f : table.functions) {
    std::fprintf(out, "func\t%" PRIx64 "\t%u\t%s\n", f.start, f.length, f.name.c_str());
  }
  for (const auto& l : table.lines) {
    std::fprintf(out, "line\t%" PRIx64 "\t%s\t%s\n", l.address, l.where.c_str(),
                 l.source.c_str());
  }
}

Table readTableFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    fail("cannot read " + path);
  }
  Table table;
  std::string row;
  while (std::getline(in, row)) {
    std::vector<std::string> fields;
    std::stringstream split(row);
    std::string field;
    while (std::getline(split, field, '\t')) {
      fields.push_back(field);
    }
    if (fields.size() >= 4 && fields[0] == "func") {
      Function f;
      f.start = std::strtoull(fields[1].c_str(), nullptr, 16);
      f.length = static_cast<uint32_t>(std::strtoul(fields[2].c_str(), nullptr, 10));
      f.name = fields[3];
      table.functions.push_back(f);
    } else if (fields.size() >= 3 && fields[0] == "line") {
      table.lines.push_back({std::strtoull(fields[1].c_str(), nullptr, 16), fields[2],
                             fields.size() > 3 ? fields[3] : ""});
    }
  }
  if (table.lines.empty() || table.functions.empty()) {
    fail(path + " holds no snapshot (bpf_line_profile snapshot ...)");
  }
  std::sort(table.lines.begin(), table.lines.end(),
            [](const Line& a, const Line& b) { return a.address < b.address; });
  return table;
}

// Samples per function and per source line, for addresses inside the program's functions.
struct Attribution {
  uint64_t samples = 0;     // every sample read
  uint64_t inProgram = 0;   // those inside the program
  std::map<std::string, uint64_t> byFunction;
  std::map<std::string, uint64_t> byLine;  // "file:line  source"
};

void attribute(const Table& table, uint64_t address, Attribution* out) {
  ++out->samples;
  const Function* function = nullptr;
  for (const auto& f : table.functions) {
    if (address >= f.start && address < f.start + f.length) {
      function = &f;
      break;
    }
  }
  if (function == nullptr) {
    return;
  }
  ++out->inProgram;
  ++out->byFunction[function->name];
  auto after = std::upper_bound(
      table.lines.begin(), table.lines.end(), address,
      [](uint64_t a, const Line& l) { return a < l.address; });
  if (after == table.lines.begin() || (after - 1)->address < function->start) {
    ++out->byLine[function->name + " (prologue)"];
    return;
  }
  const Line& line = *(after - 1);
  ++out->byLine[line.where + "  " + line.source];
}

// The first hexadecimal token of a `perf script -F ip,sym` line, or 0.
uint64_t sampleAddress(const std::string& row) {
  std::stringstream in(row);
  std::string token;
  in >> token;
  char* end = nullptr;
  uint64_t address = std::strtoull(token.c_str(), &end, 16);
  return (end != nullptr && *end == '\0') ? address : 0;
}

void printTop(const std::map<std::string, uint64_t>& counts, uint64_t total, size_t top) {
  std::vector<std::pair<uint64_t, std::string>> sorted;
  for (const auto& [name, n] : counts) {
    sorted.emplace_back(n, name);
  }
  std::sort(sorted.rbegin(), sorted.rend());
  for (size_t k = 0; k < sorted.size() && k < top; ++k) {
    double share = total ? 100.0 * sorted[k].first / total : 0.0;
    std::printf("%8" PRIu64 " %5.1f%%  %s\n", sorted[k].first, share,
                sorted[k].second.substr(0, 150).c_str());
  }
}

void report(const Attribution& a, size_t top) {
  std::printf("%" PRIu64 " samples, %" PRIu64 " in the program\n\nper function:\n", a.samples,
              a.inProgram);
  printTop(a.byFunction, a.inProgram, a.byFunction.size());
  std::printf("\nper source line (top %zu):\n", top);
  printTop(a.byLine, a.inProgram, top);
}

int smoke() {
  null_tc* skel = null_tc__open_and_load();
  if (skel == nullptr) {
    fail("loading the null TC program (root?)");
  }
  Table table = readTable(bpf_program__fd(skel->progs.null_tc));
  Attribution a;
  attribute(table, table.lines.front().address, &a);
  attribute(table, 1, &a);  // outside every function: read, not attributed
  null_tc__destroy(skel);
  if (a.samples != 2 || a.inProgram != 1 || a.byLine.size() != 1) {
    fail("smoke: an address of the program was not attributed to its line");
  }
  std::printf("bpf_line_profile smoke: %zu functions, %zu line records; %s\n",
              table.functions.size(), table.lines.size(), a.byLine.begin()->first.c_str());
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: bpf_line_profile snapshot (--pinned PATH | --name NAME) > LINES.tsv\n"
               "       perf script -F ip,sym | bpf_line_profile attribute LINES.tsv [--top N]\n"
               "       bpf_line_profile --smoke\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 1 && args[0] == "--smoke") {
    return smoke();
  }
  if (args.size() == 3 && args[0] == "snapshot") {
    int fd = args[1] == "--pinned" ? bpf_obj_get(args[2].c_str())
             : args[1] == "--name" ? newestProgramNamed(args[2])
                                   : -2;
    if (fd == -2) {
      return usage();
    }
    if (fd < 0) {
      fail("no loaded program " + args[2]);
    }
    writeTable(readTable(fd), stdout);
    return 0;
  }
  if ((args.size() == 2 || (args.size() == 4 && args[2] == "--top")) && args[0] == "attribute") {
    Table table = readTableFile(args[1]);
    size_t top = args.size() == 4 ? std::strtoul(args[3].c_str(), nullptr, 10) : 40;
    Attribution a;
    std::string row;
    while (std::getline(std::cin, row)) {
      if (uint64_t address = sampleAddress(row)) {
        attribute(table, address, &a);
      }
    }
    report(a, top);
    return 0;
  }
  return usage();
}
