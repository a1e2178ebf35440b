#include "service/image_source.h"

#include "image/reader.h"

namespace medanchor::service {

ImageSource ImageSource::file(std::filesystem::path path) {
    std::string name = path.string();
    return ImageSource(Kind::kFile, std::move(name), std::move(path), nullptr);
}

ImageSource ImageSource::bytes(std::vector<std::uint8_t> data, std::string name) {
    return ImageSource(Kind::kBytes, std::move(name), std::nullopt,
                       std::make_shared<const std::vector<std::uint8_t>>(std::move(data)));
}

ImageSource ImageSource::pacs_instance(std::vector<std::uint8_t> data, std::string name) {
    return ImageSource(Kind::kPacsInstance, std::move(name), std::nullopt,
                       std::make_shared<const std::vector<std::uint8_t>>(std::move(data)));
}

ImageSource ImageSource::deidentified_pacs_instance(std::vector<std::uint8_t> data,
                                                    std::string name) {
    ImageSource source = pacs_instance(std::move(data), std::move(name));
    source.deidentified_ = true;
    return source;
}

ImageSource ImageSource::deidentified_file(std::filesystem::path path) {
    ImageSource source = file(std::move(path));
    source.deidentified_ = true;
    return source;
}

Result<std::shared_ptr<const std::vector<std::uint8_t>>> ImageSource::load(
    const image::DecodeLimits& limits) const {
    if (data_) {
        if (data_->size() > limits.max_file_bytes) {
            return Error(ErrorCode::kTooLarge, name_ + ": " + std::to_string(data_->size()) +
                                                   " bytes is over the limit of " +
                                                   std::to_string(limits.max_file_bytes));
        }
        return data_;
    }
    auto read = image::read_file_bytes(*path_, limits.max_file_bytes);
    if (!read)
        return read.error();
    return std::make_shared<const std::vector<std::uint8_t>>(std::move(*read));
}

}  // namespace medanchor::service
