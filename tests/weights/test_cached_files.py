"""The weights cache as ``keras-classics cache`` sees it: the files of registered sets, and clearing the
package's own downloads only."""

import os

from keras_classics.weights import cached_weights_files, clear_weights_cache, keras_cache_dir


def test_only_the_files_of_registered_sets_are_listed_and_only_downloads_are_cleared(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    folder = tmp_path / "home" / "models"
    folder.mkdir(parents=True)
    assert keras_cache_dir() == str(folder)
    own = {"resnet18-f37072fd.pth": 5, ".vgg16-397923af.pth.4242-0123abcd.tmp.part": 3}  # a download, a killed one
    keras_files = {"resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5": 7}  # keras.applications' download
    foreign = {"resnet18-f37072fd.pth.bak": 1, "notes.txt": 1, ".resnet18-f37072fd.pth.swp": 1}
    for name, size in {**own, **keras_files, **foreign}.items():
        (folder / name).write_bytes(b"x" * size)
    (folder / "alexnet-owt-7be5be79.pth").mkdir()  # a set's name, but a directory
    (folder / "googlenet-1378be20.pth").symlink_to(folder / "notes.txt")  # a set's name, but a link

    listed = {os.path.basename(f.path): f for f in cached_weights_files()}
    assert sorted(listed) == sorted([*own, *keras_files])
    assert listed["resnet18-f37072fd.pth"].sets == ("resnet18:torchvision",) and listed["resnet18-f37072fd.pth"].own
    assert listed[".vgg16-397923af.pth.4242-0123abcd.tmp.part"].size == 3
    assert listed["resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"].own is False

    removed = clear_weights_cache()
    assert sorted(os.path.basename(f.path) for f in removed) == sorted(own)
    assert sorted(os.listdir(folder)) == sorted([*keras_files, *foreign, "alexnet-owt-7be5be79.pth",
                                                 "googlenet-1378be20.pth"])
    assert cached_weights_files(tmp_path / "nowhere") == []
